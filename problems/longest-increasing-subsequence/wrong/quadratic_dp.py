# Correct O(n^2) DP over all pairs: too slow for 20000 readings.
def longest_rising(nums):
    n = len(nums)
    best = [1] * n
    for i in range(n):
        for j in range(i):
            if nums[j] < nums[i] and best[j] + 1 > best[i]:
                best[i] = best[j] + 1
    return max(best, default=0)
