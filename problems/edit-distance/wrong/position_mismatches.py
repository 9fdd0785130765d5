# Compares the strings position by position and adds the length difference:
# misses that one insertion or deletion can realign everything after it.
def edit_distance(source, target):
    diff = sum(1 for a, b in zip(source, target) if a != b)
    return diff + abs(len(source) - len(target))
