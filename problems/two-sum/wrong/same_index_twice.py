# Builds the whole map first, so a number can be paired with itself.
def two_sum(nums, target):
    index = {n: i for i, n in enumerate(nums)}
    for i, n in enumerate(nums):
        j = index.get(target - n)
        if j is not None:
            return sorted([i, j])
    return []
