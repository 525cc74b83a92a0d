"""An example project for perfedit: a correct but slow function and its tests."""


def unique_in_order(items):
    """Return the distinct items of ``items`` in the order they first appear."""
    result = []
    for item in items:
        if item not in result:
            result.append(item)
    return result
