# Sorts the values by count but forgets reverse=True: returns the k rarest.
def top_k_frequent(nums, k):
    counts = {}
    for x in nums:
        counts[x] = counts.get(x, 0) + 1
    return sorted(counts, key=counts.get)[:k]
