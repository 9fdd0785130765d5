# Binary search over [0, len(nums) - 1]: can never answer len(nums), so a
# target larger than every value gets the wrong slot.
def search_insert(nums, target):
    if not nums:
        return 0
    lo, hi = 0, len(nums) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if nums[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo
