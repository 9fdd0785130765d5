# Confuses "most frequent" with "largest": returns the k largest distinct values.
def top_k_frequent(nums, k):
    return sorted(set(nums), reverse=True)[:k]
