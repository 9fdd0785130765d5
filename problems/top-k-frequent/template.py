def top_k_frequent(nums, k):
    pass
