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


class _Cuda:
    """torch.cuda's streams and graphs: a call made while a graph captures
    is recorded at half its eager "time" (the graph leaves out the host's
    launch overhead); capturing() tells the stand-in FLA a capture runs."""

    class Stream:
        def wait_stream(self, other):
            pass

    class CUDAGraph:
        ms = None

        def replay(self):
            return self.ms

    _capturing = None

    def current_stream(self):
        return self.Stream()

    def stream(self, s):
        return _Context(lambda: None, lambda: None)

    def graph(self, g):
        def enter():
            _Cuda._capturing = g

        def leave():
            _Cuda._capturing = None
        return _Context(enter, leave)

    def capturing(self):
        return _Cuda._capturing


class _Context:
    def __init__(self, enter, leave):
        self.enter, self.leave = enter, leave

    def __enter__(self):
        self.enter()

    def __exit__(self, *exc):
        self.leave()
        return False


cuda = _Cuda()
