"""FER-2013 and FER+ label sets in their canonical orders."""

# Order of the `emotion` column codes 0..6 in the Kaggle fer2013.csv.
FER2013_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Order of the emotion vote columns in Microsoft's fer2013new.csv.
FERPLUS_LABELS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")

# FER+ columns that are not emotions; a row whose majority falls here is dropped, as FER+ does.
FERPLUS_EXTRA_COLUMNS = ("unknown", "NF")

LABEL_SETS = {"fer2013": FER2013_LABELS, "ferplus": FERPLUS_LABELS}

# FER+ spells three of FER-2013's classes differently. fer.compat keys its results with the FER-2013
# spellings, which the PyPI `fer` package uses, so `happy` is there whichever model ran; FER+'s extra class,
# contempt, has no FER-2013 counterpart and keeps its name. Our own results keep each model's labels.
FER2013_SPELLINGS = {"happiness": "happy", "sadness": "sad", "anger": "angry"}


def fer2013_spelling(label: str) -> str:
    """A label as FER-2013 spells it ("happiness" -> "happy"); labels without another spelling are unchanged."""
    return FER2013_SPELLINGS.get(label, label)
