"""FER-2013 and FER+ label sets in their canonical orders."""

# Order of the `emotion` column codes 0..6 in the Kaggle fer2013.csv.
FER2013_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Order of the emotion vote columns in Microsoft's fer2013new.csv.
FERPLUS_LABELS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")

# FER+ columns that are not emotions; a row whose majority falls here is dropped, as FER+ does.
FERPLUS_EXTRA_COLUMNS = ("unknown", "NF")

LABEL_SETS = {"fer2013": FER2013_LABELS, "ferplus": FERPLUS_LABELS}
