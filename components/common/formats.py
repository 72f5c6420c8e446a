"""On-disk contracts between components: feature keys, split names, file names.

Every component reads and writes artifacts through these names, so a change here is a
change of format; bump FORMAT_VERSION when one happens.
"""

FORMAT_VERSION = 1

# Examples (CocoExampleGen output): gzipped TFRecord of tf.Example under Split-<name>/.
SPLIT_TRAIN = "train"
SPLIT_EVAL = "eval"
SPLIT_INDEX = "index"  # every ingested image, captioned or not
SPLITS = (SPLIT_TRAIN, SPLIT_EVAL, SPLIT_INDEX)

FEATURE_IMAGE_ID = "image_id"  # int64
FEATURE_FILE_NAME = "file_name"  # bytes, path relative to the collection root
FEATURE_IMAGE = "image"  # bytes, JPEG
FEATURE_HEIGHT = "height"  # int64
FEATURE_WIDTH = "width"  # int64
FEATURE_CAPTIONS = "captions"  # bytes list, every kept caption of the image (absent: none)
FEATURE_COCO_URL = "coco_url"  # bytes, optional
FEATURE_FLICKR_URL = "flickr_url"  # bytes, optional
FEATURE_METADATA = "metadata"  # bytes, what the searcher returns (see item_metadata)
FEATURE_SPAN = "span"  # int64, the input span the image came from

INGEST_REPORT = "ingest_report.json"

# Model (Trainer output), under the model artifact's Format-Serving/ directory.
MODEL_IMAGE_ENCODER = "image_encoder"  # SavedModel
MODEL_TEXT_ENCODER = "text_encoder"  # SavedModel
MODEL_VOCAB = "vocab.txt"  # Task Library regex-tokenizer vocabulary
# BERT-layout text towers: the tokenizer file the device metadata carries (a WordPiece
# vocabulary or a SentencePiece model), under tokenizer/ with its own name.
MODEL_TOKENIZER_DIR = "tokenizer"
MODEL_CONFIG = "model_config.json"  # towers, sizes, tokenizer, image normalization
# Up to 200 distinct eval-split captions, one a line, each image's first caption first
# (components/common/captions.py): the TextEncoderExporter checks its TFLite files on them.
MODEL_EVAL_CAPTIONS = "eval_captions.txt"
TRAINING_SUMMARY = "training_summary.json"
# Everything a trained model directory holds, nothing else (regex-token text towers; a
# BERT-layout text tower has MODEL_BERT_FILES instead).
MODEL_FILES = (
    MODEL_IMAGE_ENCODER,
    MODEL_TEXT_ENCODER,
    MODEL_VOCAB,
    MODEL_CONFIG,
    MODEL_EVAL_CAPTIONS,
    TRAINING_SUMMARY,
)
MODEL_BERT_FILES = (
    MODEL_IMAGE_ENCODER,
    MODEL_TEXT_ENCODER,
    MODEL_TOKENIZER_DIR,
    MODEL_CONFIG,
    MODEL_EVAL_CAPTIONS,
    TRAINING_SUMMARY,
)
# Signatures. Image: "serving_default" takes encoded image bytes [batch] -> "embedding";
# "embed_pixels" takes float32 [batch, H, W, 3] RGB in 0..255 -> "embedding".
# Text: "serving_default" takes raw strings [batch] -> "embedding";
# "embed_token_ids" takes int32 [batch, max_tokens] -> "embedding". A BERT-layout text
# tower has only "embed_token_ids", taking ids, segment_ids and mask, int32 [batch, T]
# each (components/common/bert_tokenizer.py makes them from text, as the device does).
SIGNATURE_IMAGE_BYTES = "serving_default"
SIGNATURE_IMAGE_PIXELS = "embed_pixels"
SIGNATURE_TEXT_STRINGS = "serving_default"
SIGNATURE_TEXT_TOKEN_IDS = "embed_token_ids"
OUTPUT_EMBEDDING = "embedding"

# ModelEvaluation (RetrievalEvaluator output).
EVALUATION_SUMMARY = "retrieval_metrics.json"

# Embeddings (ImageEmbedder output): sharded gzipped TFRecord of tf.Example.
EMBEDDINGS_FILE_PREFIX = "embeddings"  # embeddings-00000-of-00004.tfrecord.gz
EMBEDDING_FEATURE = "embedding"  # float list, dim D; plus image_id and metadata as above
EMBEDDINGS_SUMMARY = "embeddings_summary.json"
DEAD_LETTERS = "dead_letters.jsonl"  # one {"image_id", "file_name", "reason"} per line
# Custom property: the newest input span the embeddings cover (ImageEmbedder sets it;
# the rebuild's ingestion and its "anything new?" check read it).
MAX_SPAN_PROPERTY = "max_span"

# TextEncoder (TextEncoderExporter output).
TEXT_ENCODER_TFLITE = "text_encoder.tflite"  # with Task Library tokenizer metadata
IMAGE_ENCODER_TFLITE = "image_encoder.tflite"  # with image normalization metadata
EXPORT_SUMMARY = "export_summary.json"

# Searcher (SearcherBuilder output) and what the Pusher copies to serving/<version>/.
SEARCHER_TFLITE = "searcher.tflite"
IMAGE_SEARCHER_TFLITE = "image_searcher.tflite"
SERVER_INDEX_DIR = "scann_server_index"
SEARCHER_SUMMARY = "searcher_summary.json"
VALIDATION_SUMMARY = "validation_summary.json"

# model_config.json (written by the Trainer next to the SavedModels), keys:
#   embedding_dim: int
#   image_size: int                      square input of the image tower's pixel signature
#   image_norm_mean, image_norm_std: float  Task Library NormalizationOptions for the TFLite
#                                        image tower: model input = (pixel - mean) / std; the
#                                        pixel signature takes RGB 0..255, so mean 0, std 1
#   text_input_style: "regex_ids" (int32 ids, Task Library regex tokenizer), "bert_ids"
#                                        (ids, segment ids, mask; WordPiece/SentencePiece)
#                                        or "strings"
#   max_tokens: int                      length of the token-id input(s)
#   tokenizer: {"kind": "wordpiece" | "sentencepiece", "file": "tokenizer/<name>"}
#                                        ("bert_ids" only; file relative to the model dir)
#   delimiter_regex: str                 tokenizer.DELIMITER_REGEX ("regex_ids" only)
#   image_tower, text_tower: str         what the Trainer built them from
TEXT_STYLE_REGEX_IDS = "regex_ids"
TEXT_STYLE_BERT_IDS = "bert_ids"
TEXT_STYLE_STRINGS = "strings"
