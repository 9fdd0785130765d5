# Correct idea, but rescans both sides for every column: O(n^2).
def trapped_water(heights):
    n = len(heights)
    total = 0
    for i in range(n):
        left = 0
        for j in range(i + 1):
            if heights[j] > left:
                left = heights[j]
        right = 0
        for j in range(i, n):
            if heights[j] > right:
                right = heights[j]
        total += min(left, right) - heights[i]
    return total
