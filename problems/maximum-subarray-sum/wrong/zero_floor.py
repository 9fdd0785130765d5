# Kadane's algorithm started from 0: treats the empty streak as allowed,
# so an all-negative ledger gives 0 instead of its largest entry.
def max_subarray_sum(nums):
    best = current = 0
    for x in nums:
        current = max(0, current + x)
        best = max(best, current)
    return best
