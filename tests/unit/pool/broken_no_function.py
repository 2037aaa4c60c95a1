"""Names no conv2d at all."""


def convolve(input, weight):
    return input
