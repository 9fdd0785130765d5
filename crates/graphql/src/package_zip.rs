//! A problem package uploaded as a zip archive, turned into the same
//! `(path, content)` files `importProblemPackage` takes.
//!
//! An archive is untrusted input: entries that would land outside the
//! package (absolute paths, `..`), links, too many files, too many bytes once
//! inflated (a zip bomb) and files that are not UTF-8 text are refused with
//! the entry's name, before anything is imported. A package zipped with its
//! folder (`two-sum/problem.toml`, …) is taken from inside that folder.

use std::io::Read;

use crate::schema::MAX_PACKAGE_FILES;

/// The most bytes an archive may inflate to.
pub const MAX_INFLATED_BYTES: u64 = 16 * 1024 * 1024;

/// Why an archive was refused: the entry (or `archive`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipError {
    pub file: String,
    pub message: String,
}

fn refuse(file: impl Into<String>, message: impl Into<String>) -> ZipError {
    ZipError {
        file: file.into(),
        message: message.into(),
    }
}

/// The archive's files as package paths and text.
pub fn unzip(bytes: &[u8]) -> Result<Vec<(String, String)>, ZipError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| refuse("archive", format!("not a readable zip archive: {e}")))?;
    let mut files = Vec::new();
    let mut inflated = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| refuse("archive", format!("entry {i} cannot be read: {e}")))?;
        let name = entry.name().to_string();
        if entry.is_dir() {
            continue;
        }
        if entry.is_symlink() {
            return Err(refuse(name, "links are not allowed in a package"));
        }
        let Some(path) = entry.enclosed_name() else {
            return Err(refuse(name, "the path leads outside the package"));
        };
        let path = path
            .to_str()
            .ok_or_else(|| refuse(&name, "the path is not UTF-8"))?
            .replace('\\', "/");
        if files.len() == MAX_PACKAGE_FILES {
            return Err(refuse(
                "archive",
                format!("a package holds at most {MAX_PACKAGE_FILES} files"),
            ));
        }
        // Read at most one byte past what is left, whatever the header says.
        let left = MAX_INFLATED_BYTES - inflated;
        let mut content = Vec::new();
        (&mut entry)
            .take(left + 1)
            .read_to_end(&mut content)
            .map_err(|e| refuse(&name, format!("cannot be inflated: {e}")))?;
        inflated += content.len() as u64;
        if inflated > MAX_INFLATED_BYTES {
            return Err(refuse(
                "archive",
                format!(
                    "the files inflate to more than {} MiB",
                    MAX_INFLATED_BYTES / 1024 / 1024
                ),
            ));
        }
        let content = String::from_utf8(content)
            .map_err(|_| refuse(&name, "a package holds only UTF-8 text files"))?;
        files.push((path, content));
    }
    Ok(strip_folder(files))
}

/// `two-sum/problem.toml` → `problem.toml` when every file is in one folder
/// and the manifest is not at the top.
fn strip_folder(files: Vec<(String, String)>) -> Vec<(String, String)> {
    let Some((first, _)) = files.first() else {
        return files;
    };
    let Some((folder, _)) = first.split_once('/') else {
        return files;
    };
    let prefix = format!("{folder}/");
    if files.iter().all(|(path, _)| path.starts_with(&prefix)) {
        files
            .into_iter()
            .map(|(path, content)| (path[prefix.len()..].to_string(), content))
            .collect()
    } else {
        files
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in entries {
            out.start_file(*name, options).unwrap();
            out.write_all(content).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn a_package_zipped_with_its_folder_is_read_from_inside_it() {
        let bytes = zip_of(&[
            ("two-sum/problem.toml", b"slug = 'two-sum'"),
            ("two-sum/tests/hidden.json", b"[]"),
        ]);
        let files = unzip(&bytes).unwrap();
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["problem.toml", "tests/hidden.json"]);
    }

    #[test]
    fn paths_outside_the_package_binary_files_and_bombs_are_refused() {
        let err = unzip(&zip_of(&[("../evil.py", b"x")])).unwrap_err();
        assert_eq!(err.file, "../evil.py");
        let err = unzip(&zip_of(&[("solution.py", &[0xff, 0xfe, 0])])).unwrap_err();
        assert_eq!(err.file, "solution.py");
        let zeros = vec![b'0'; (MAX_INFLATED_BYTES + 1) as usize];
        let bomb = zip_of(&[("tests/hidden.json", &zeros)]);
        assert!(bomb.len() < 1024 * 1024, "compresses well");
        let err = unzip(&bomb).unwrap_err();
        assert!(err.message.contains("inflate"), "{err:?}");
        let err = unzip(b"not a zip").unwrap_err();
        assert_eq!(err.file, "archive");
    }
}
