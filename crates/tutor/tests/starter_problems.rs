//! The offline engine reads the size constraints of the starter problems, so
//! its time-limit advice names the real bound.

use tutor::offline::largest_size;

fn bound(slug: &str) -> Option<(String, u64)> {
    let path = format!(
        "{}/../../problems/{slug}/statement.md",
        env!("CARGO_MANIFEST_DIR")
    );
    largest_size(&std::fs::read_to_string(path).unwrap())
}

#[test]
fn the_size_bounds_of_the_starter_problems_are_read() {
    assert_eq!(bound("two-sum"), Some(("len(nums)".into(), 20_000)));
    assert_eq!(
        bound("longest-substring-without-repeat"),
        Some(("len(s)".into(), 50_000)),
        "`5 * 10^4`"
    );
    assert_eq!(bound("count-primes-below"), Some(("x".into(), 1_000_000)));
    assert_eq!(
        bound("word-frequencies"),
        Some(("the input".into(), 100_000)),
        "\"at most 100000 characters\""
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../problems");
    let (mut statements, mut read) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let Ok(s) = std::fs::read_to_string(entry.unwrap().path().join("statement.md")) else {
            continue;
        };
        statements += 1;
        read += usize::from(largest_size(&s).is_some());
    }
    assert!(
        read * 10 >= statements * 9,
        "{read} of {statements} statements give a bound"
    );
}
