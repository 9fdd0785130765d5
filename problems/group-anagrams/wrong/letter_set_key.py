# Keys each word by the set of its letters, ignoring how often each letter
# occurs: "aab" and "abb" end up in the same family.
def group_anagrams(words):
    families = {}
    for word in words:
        key = "".join(sorted(set(word)))
        families.setdefault(key, []).append(word)
    return [sorted(family) for family in families.values()]
