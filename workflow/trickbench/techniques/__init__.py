"""Technique families, one registry module each. Import order matters only for `FAMILIES`."""

from trickbench.techniques.activations import ACTIVATIONS
from trickbench.techniques.inits import INITS
from trickbench.techniques.norms import NORMS
from trickbench.techniques.optimizers import OPTIMIZERS
from trickbench.techniques.preprocessing import PREPROCESSING
from trickbench.techniques.regularizers import REGULARIZERS
from trickbench.techniques.schedules import SCHEDULES

#: The factor families a design can vary, in the order tables and reports show them.
FAMILIES = {
    "activation": ACTIVATIONS,
    "init": INITS,
    "norm": NORMS,
    "regularizer": REGULARIZERS,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "preprocessing": PREPROCESSING,
}
