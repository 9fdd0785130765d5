def max_subarray_sum(nums):
    pass
