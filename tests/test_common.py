"""The TF-free shared contracts: tokenizer mirror, vocab file, item metadata, code version,
caption order and the Model artifact's eval captions."""

import pytest

from components.common import captions, code_version, formats, item_metadata, tokenizer


def test_split_mirrors_the_re2_delimiter():
    assert tokenizer.split("A dog's ball, café 東京!  x_y") == [
        "A",
        "dog's",
        "ball",
        "café",
        "東京",
        "x_y",
    ]
    assert tokenizer.split("  ,, ") == []


def test_vocab_file_round_trip_with_case_variants(tmp_path):
    tokens = tokenizer.build_vocab(["A dog", "a Dog runs", "the cat"], min_count=1)
    assert tokens[:2] == ["a", "dog"]
    path = tmp_path / "vocab.txt"
    tokenizer.write_vocab_file(str(path), tokens)
    table = tokenizer.read_vocab_file(str(path))
    assert table["<PAD>"] == 0 and table["<START>"] == 1 and table["<UNKNOWN>"] == 2
    assert table["dog"] == table["Dog"] == table["DOG"]
    for line in path.read_text().splitlines():
        token, token_id = line.split(" ")
        assert token and token_id.isdigit()
    assert tokenizer.encode("Dog runs zebra", table, 6) == [1, table["dog"], table["runs"], 2, 0, 0]
    assert tokenizer.encode("a a a a a a a", table, 3) == [1, table["a"], table["a"]]


def test_vocab_file_errors(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("<PAD> 0\nbroken\n")
    with pytest.raises(ValueError, match=r"vocab.txt:2"):
        tokenizer.read_vocab_file(str(path))
    path.write_text("<PAD> 0\n<START> 1\n")
    with pytest.raises(ValueError, match="lacks <UNKNOWN>"):
        tokenizer.read_vocab_file(str(path))


def test_item_metadata_round_trip_in_both_layouts():
    meta = item_metadata.ItemMetadata(42, "val2017/a|b_c.jpg", "2970773875")
    assert meta.encode() == b"2970773875_val2017/a|b_c.jpg"  # the seeds' layout by default
    assert item_metadata.decode(meta.encode()) == item_metadata.ItemMetadata(
        None, "val2017/a|b_c.jpg", "2970773875"
    )  # this layout carries no image id
    legacy = meta.encode(item_metadata.ID_FLICKR_FILE)
    assert legacy == b"42|2970773875|val2017/a|b_c.jpg"
    assert item_metadata.decode(legacy) == meta
    no_flickr = item_metadata.ItemMetadata(1, "x_1.jpg")
    assert no_flickr.encode() == b"_x_1.jpg" and no_flickr.flickr_url == ""
    assert item_metadata.decode(no_flickr.encode()) == item_metadata.ItemMetadata(None, "x_1.jpg")
    assert meta.flickr_url.endswith("id=2970773875")
    for bad in (b"not metadata", b"12x_a.jpg", b"\xff\xfe_a.jpg"):
        with pytest.raises(item_metadata.MetadataError):
            item_metadata.decode(bad)
    with pytest.raises(item_metadata.MetadataError, match="layout must be one of"):
        meta.encode("seeds")
    with pytest.raises(item_metadata.MetadataError, match="needs an image id"):
        item_metadata.ItemMetadata(None, "a.jpg").encode(item_metadata.ID_FLICKR_FILE)
    url = "http://farm4.staticflickr.com/3153/2970773875_164f0c0b83_z.jpg"
    assert item_metadata.flickr_id_from_url(url) == "2970773875"
    assert item_metadata.flickr_id_from_url("") == ""


def test_first_captions_first_orders_by_position_and_drops_repeats():
    per_example = [["a dog", "a brown dog"], [], ["a cat ", "a dog", "the cat"], ["a bird"]]
    assert captions.first_captions_first(per_example, 10) == [
        "a dog",
        "a cat",
        "a bird",
        "a brown dog",
        "the cat",
    ]
    assert captions.first_captions_first(per_example, 2) == ["a dog", "a cat"]
    assert captions.first_captions_first([[], [" "]], 5) == []


def test_eval_captions_file_round_trip(tmp_path):
    written = ["a dog", "a dog", "two\nlines", " "] + [f"caption {i}" for i in range(300)]
    path = captions.write_eval_captions(str(tmp_path), written)
    assert path == str(tmp_path / formats.MODEL_EVAL_CAPTIONS)
    read = captions.read_eval_captions(str(tmp_path))
    assert read[:3] == ["a dog", "two lines", "caption 0"]
    assert len(read) == captions.EVAL_CAPTIONS_LIMIT == len(set(read))


def test_code_version_changes_with_the_source(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "executor.py").write_text("x = 1\n")
    first = code_version.code_version(str(package))
    (package / "executor.py").write_text("x = 2\n")
    code_version.code_version.cache_clear()
    second = code_version.code_version(str(package))
    assert first != second and first.startswith("0.1.0+")


def test_in_graph_tokenizer_matches_the_device_mirror(tmp_path):
    import tensorflow as tf

    from components.common import tf_text

    path = tmp_path / "vocab.txt"
    tokenizer.write_vocab_file(
        str(path), tokenizer.build_vocab(["a red circle", "two café 東京 dog's", "x_y left of"])
    )
    table = tokenizer.read_vocab_file(str(path))
    texts = [
        "A red circle",
        "  ,,two  café!東京 dog's?? ",
        "",
        "zebra RED x_y-left OF of",
        "a " * 40,
        "Ünknown\tred\ncircle",
    ]
    graph_ids = tf_text.token_ids(tf.constant(texts), tf_text.vocab_lookup_table(str(path)), 8)
    assert graph_ids.shape == (len(texts), 8)
    for text, row in zip(texts, graph_ids.numpy().tolist()):
        assert row == tokenizer.encode(text, table, 8), text
