"""do_bench runs the function once and returns the milliseconds it returns."""


def do_bench(fn, warmup=25, rep=100):
    return fn()
