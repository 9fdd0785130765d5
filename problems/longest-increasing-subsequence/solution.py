from bisect import bisect_left


def longest_rising(nums):
    # tails[k] = smallest value that ends a strictly rising pick of length k+1
    tails = []
    for x in nums:
        k = bisect_left(tails, x)
        if k == len(tails):
            tails.append(x)
        else:
            tails[k] = x
    return len(tails)
