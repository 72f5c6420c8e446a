"""The smallest Trainer settings that still train a real dual encoder in seconds (small
towers, 32 px images, one text layer), shared by the tests that run the Trainer."""

TINY_TRAINER = dict(
    image_tower="small_cnn",
    text_tower="small_text",
    image_size=32,
    image_width=8,
    text_width=16,
    text_layers=1,
    text_heads=2,
    embedding_dim=16,
    max_tokens=12,
    batch_size=16,
    dropout=0.0,
)
