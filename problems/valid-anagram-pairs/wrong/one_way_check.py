# Only checks that every letter of t is available in s, forgetting that s
# may have tiles left over ("abc" vs "ab" is accepted).
def is_anagram(s, t):
    counts = {}
    for ch in s:
        counts[ch] = counts.get(ch, 0) + 1
    for ch in t:
        if counts.get(ch, 0) == 0:
            return False
        counts[ch] -= 1
    return True
