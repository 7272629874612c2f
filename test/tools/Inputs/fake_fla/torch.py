"""A stand-in for torch in compare_fla.py's tests: tensors are shape records."""
bfloat16, float32, long = "bfloat16", "float32", "long"


class Tensor:
    def __init__(self, shape):
        self.shape = shape

    def sigmoid(self):
        return self


def randn(*shape, device=None, dtype=None):
    return Tensor(shape)


def rand(*shape, device=None, dtype=None):
    return Tensor(shape)


def tensor(values, device=None, dtype=None):
    return Tensor((len(values),))
