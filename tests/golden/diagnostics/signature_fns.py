"""Functions with signatures no component kind can call, for golden diagnostics."""


def three_arguments(a, b, c):
    return 1.0


def no_arguments():
    return "text"
