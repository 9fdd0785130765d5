def longest_rising(nums):
    pass
