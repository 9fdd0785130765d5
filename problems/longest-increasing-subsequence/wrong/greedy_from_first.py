# Greedy: starts at the first reading and takes every larger one it meets.
# A large early value blocks a much longer trend.
def longest_rising(nums):
    if not nums:
        return 0
    count, last = 1, nums[0]
    for x in nums[1:]:
        if x > last:
            count += 1
            last = x
    return count
