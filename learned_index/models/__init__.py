"""Model families of the recursive model index, one module per family.

Every family offers ``fit(x, y, out)`` over float64 arrays (``x`` are key
offsets, see :mod:`.common`; ``y`` the targets) and a jitted ``predict(p, o, x)``
that reads its parameters from ``p[o:o + N_PARAMS]``. Families sharing an
evaluation *form* share one ``predict``; the lookup kernels dispatch on the
form code, a loop-invariant branch.
"""
from . import cubic, linear, linear_spline, loglinear, mlp, radix, robust_linear

FORM_LINEAR = 0
FORM_CUBIC = 1
FORM_LOG = 2
FORM_MLP = 3
#: the 16-byte linear leaf record of :mod:`learned_index.compact` (a leaf form, no family)
FORM_COMPACT = 4

#: family name -> (module, evaluation form)
FAMILIES = {
    "linear": (linear, FORM_LINEAR),
    "robust_linear": (robust_linear, FORM_LINEAR),
    "linear_spline": (linear_spline, FORM_LINEAR),
    "radix": (radix, FORM_LINEAR),
    "cubic": (cubic, FORM_CUBIC),
    "loglinear": (loglinear, FORM_LOG),
    "mlp": (mlp, FORM_MLP),
}
ROOT_FAMILIES = ("linear", "robust_linear", "linear_spline", "cubic", "radix", "loglinear", "mlp")
LEAF_FAMILIES = ("linear", "linear_spline", "cubic")

#: family codes used by the jitted leaf trainer
LEAF_CODES = {"linear": 0, "linear_spline": 1, "cubic": 2}
