"""A small real-photo captioned collection the tests can make: the photos scikit-image
ships, with captions written by hand for this project (five per photo), in COCO's
captions format.

    write_collection(out_dir) -> {"annotations": path, "images": dir, "queries": [...]}

The first three captions of each photo are the collection's (what training sees); the last
two are held back as queries: new wordings of what is in the photo, never trained on.
No COCO here; these are real photographs all the same, unlike the generated shapes.
"""

from __future__ import annotations

import json
import os

# Photo file in skimage's data folder (no download) -> five captions (three for the
# collection, two held back).
PHOTOS = {
    "astronaut.png": [
        "An astronaut in a white space suit poses in front of an American flag.",
        "A smiling woman astronaut in her orange and white suit.",
        "Portrait of a female astronaut holding a space helmet.",
        "a woman in a spacesuit smiling for an official portrait",
        "NASA astronaut portrait with the US flag behind her",
    ],
    "coffee.png": [
        "A cup of coffee on a saucer with a spoon.",
        "A white coffee cup full of espresso on a red table.",
        "Top view of a hot coffee in a ceramic cup.",
        "an espresso served in a small cup with a saucer",
        "a hot drink in a mug seen from above",
    ],
    "chelsea.png": [
        "An orange tabby cat looking to the side.",
        "Close up of a ginger cat's face with whiskers.",
        "A striped house cat sitting and staring.",
        "a pet cat with orange fur",
        "the head of a tabby kitten",
    ],
    "motorcycle_left.png": [
        "A red motorcycle parked in a garage.",
        "A sport motorbike standing indoors.",
        "A shiny red and black motorcycle seen from the side.",
        "a motorbike parked inside a workshop",
        "a red bike with two wheels and an engine",
    ],
    "rocket.jpg": [
        "A rocket standing on the launch pad under a blue sky.",
        "A white space rocket ready for launch.",
        "A tall rocket on its launch tower at the space center.",
        "a spacecraft launcher waiting to lift off",
        "a rocket at a launch site",
    ],
    "camera.png": [
        "A black and white photo of a man with a camera on a tripod.",
        "A photographer in a coat standing in a field with his camera.",
        "A man looking through an old camera on a tripod.",
        "grayscale picture of a cameraman outdoors",
        "a person taking a photograph with a tripod",
    ],
    "moon.png": [
        "The surface of the moon with craters.",
        "A gray close up of lunar craters.",
        "Craters and rocks on the moon's surface.",
        "the lunar surface seen through a telescope",
        "a cratered gray moon landscape",
    ],
    "coins.png": [
        "Many old coins on a dark background.",
        "A collection of ancient coins laid out in rows.",
        "Rows of round metal coins, black and white.",
        "old money coins arranged on a table",
        "several silver coins in a grid",
    ],
    "page.png": [
        "A scanned page of printed text.",
        "A page from a book with paragraphs of writing.",
        "Black text on a white sheet of paper.",
        "a document with lines of words",
        "printed words on a book page",
    ],
    "text.png": [
        "Handwritten letters and numbers on a wall.",
        "Writing in chalk on a gray surface.",
        "Characters painted on a textured board.",
        "some text written on a rough background",
        "letters and digits on a gray wall",
    ],
    "brick.png": [
        "A brick wall in black and white.",
        "Rows of bricks with mortar between them.",
        "A close up of an old brick wall texture.",
        "a wall built from bricks",
        "gray bricks stacked in a pattern",
    ],
    "grass.png": [
        "A close up of green grass blades, in gray.",
        "A texture of grass in a field.",
        "Long thin leaves of grass in a lawn.",
        "a lawn seen up close",
        "blades of grass growing thick",
    ],
    "gravel.png": [
        "A close up of small stones and gravel.",
        "A texture of pebbles on the ground.",
        "Many little rocks covering a path.",
        "gravel stones on a road",
        "a ground full of small pebbles",
    ],
    "hubble_deep_field.jpg": [
        "Many galaxies in deep space seen by the Hubble telescope.",
        "Stars and galaxies on a black sky.",
        "A deep field image of distant galaxies.",
        "the night sky full of colorful galaxies",
        "space with many stars and galaxies",
    ],
    "retina.jpg": [
        "A medical photo of a human retina with blood vessels.",
        "The back of an eye, orange with red veins.",
        "An eye fundus image showing the optic disc.",
        "a photograph of the inside of an eye",
        "retina scan with vessels",
    ],
    "cell.png": [
        "A microscope image of a cell floating in liquid.",
        "A single biological cell under a microscope.",
        "A gray microscopy picture of a round cell.",
        "a cell seen through a microscope",
        "microscopic view of one cell",
    ],
    "ihc.png": [
        "A stained tissue sample under the microscope, brown and blue.",
        "Microscope slide of stained human tissue.",
        "Cells of a tissue section colored brown and purple.",
        "a histology slide with stained cells",
        "pathology image of tissue with colored stains",
    ],
    "horse.png": [
        "A black silhouette of a horse on a white background.",
        "The dark shape of a standing horse.",
        "A horse drawn as a solid black outline.",
        "the silhouette of a pony",
        "a black horse shape",
    ],
    "clock_motion.png": [
        "A blurry wall clock in black and white.",
        "A round clock with hands, blurred by motion.",
        "A clock face showing the time, out of focus.",
        "a motion blurred clock on the wall",
        "an analog clock that is blurry",
    ],
}
COLLECTION_CAPTIONS = 3


def write_collection(out_dir: str) -> dict:
    """Writes images/<name>.jpg and annotations.json (COCO captions format); returns the
    paths and the held-back queries as (query, file name) pairs."""
    import numpy as np
    import skimage
    from PIL import Image

    source_dir = os.path.join(os.path.dirname(skimage.__file__), "data")
    images_dir = os.path.join(out_dir, "images")
    os.makedirs(images_dir, exist_ok=True)
    images, annotations, queries = [], [], []
    for image_id, (name, captions) in enumerate(PHOTOS.items(), start=1):
        with Image.open(os.path.join(source_dir, name)) as photo:
            rgb = photo.convert("RGB")
        pixels = np.asarray(rgb)
        file_name = f"{os.path.splitext(name)[0]}.jpg"
        rgb.save(os.path.join(images_dir, file_name), quality=92)
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "height": int(pixels.shape[0]),
                "width": int(pixels.shape[1]),
            }
        )
        for caption in captions[:COLLECTION_CAPTIONS]:
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "caption": caption}
            )
        queries += [(caption, file_name) for caption in captions[COLLECTION_CAPTIONS:]]
    path = os.path.join(out_dir, "annotations.json")
    with open(path, "w") as f:
        json.dump(
            {
                "info": {"description": "scikit-image photos, captions written for t2i"},
                "images": images,
                "annotations": annotations,
            },
            f,
            indent=1,
        )
    return {"annotations": path, "images": images_dir, "queries": queries}
