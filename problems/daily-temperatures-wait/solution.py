def days_until_warmer(temps):
    wait = [0] * len(temps)
    waiting = []  # indices of days with no warmer day yet; temps non-increasing
    for i, t in enumerate(temps):
        while waiting and temps[waiting[-1]] < t:
            j = waiting.pop()
            wait[j] = i - j
        waiting.append(i)
    return wait
