# Correct, but scans forward from every day: O(n^2) when warmer days are rare.
def days_until_warmer(temps):
    n = len(temps)
    wait = [0] * n
    for i in range(n):
        for j in range(i + 1, n):
            if temps[j] > temps[i]:
                wait[i] = j - i
                break
    return wait
