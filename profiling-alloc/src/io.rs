//! Files read and written whole, with errors that name the file: what
//! every folder that writes an output or reads an input shares.

use std::path::Path;

use crate::Error;

/// Writes `bytes` to the file `path`, creating its directory first; the
/// error names the file or directory that could not be written.
pub(crate) fn write_file(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), Error> {
    create_parent(path)?;
    std::fs::write(path, bytes).map_err(|e| Error::io("writing", path, e))
}

/// Writes `lines` to the file `path`, each ended by a newline (folded
/// stacks), as [`write_file`] does.
pub(crate) fn write_lines(path: &Path, lines: &[String]) -> Result<(), Error> {
    let mut text = lines.join("\n");
    text.push('\n');
    write_file(path, text)
}

/// The text of the file `path`.
pub(crate) fn read_text_file(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))
}

/// `text` read as the JSON of `what` (`"job profile"`, `"price sheet"`),
/// from `path` if it came from a file: serde's message, with its line and
/// column, when it is not.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &'static str,
    path: Option<&Path>,
) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::InvalidData {
        what,
        path: path.map(Path::to_path_buf),
        message: e.to_string(),
    })
}

/// Creates the directory `path` will be written in.
fn create_parent(path: &Path) -> Result<(), Error> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))
        }
        _ => Ok(()),
    }
}
