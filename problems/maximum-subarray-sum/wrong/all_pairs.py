# Correct, but tries every starting day: O(n^2), too slow for 20000 days.
def max_subarray_sum(nums):
    best = nums[0]
    n = len(nums)
    for i in range(n):
        total = 0
        for j in range(i, n):
            total += nums[j]
            if total > best:
                best = total
    return best
