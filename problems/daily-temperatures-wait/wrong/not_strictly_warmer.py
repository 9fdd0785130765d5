# Monotonic stack that also pops days of equal temperature, so a day just as
# warm is counted as "warmer".
def days_until_warmer(temps):
    wait = [0] * len(temps)
    waiting = []
    for i, t in enumerate(temps):
        while waiting and temps[waiting[-1]] <= t:
            j = waiting.pop()
            wait[j] = i - j
        waiting.append(i)
    return wait
