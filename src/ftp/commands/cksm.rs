//! CKSM (GFD.47 "CKSM"): `213 <hex>` for a whole file (cached) or a byte range.

use crate::ftp::error::FtpError;
use crate::ftp::session::{Answer, Link, SessionState};
use crate::storage::checksum::{compute_until, Algorithm};
use crate::storage::StorageError;

impl SessionState {
    pub(crate) async fn cmd_cksm(
        &mut self,
        link: &Link<'_>,
        alg: &str,
        offset: u64,
        length: Option<u64>,
        arg: &str,
    ) -> Result<Answer, FtpError> {
        let Some(alg) = Algorithm::parse(alg) else {
            return Ok(Answer::reply(
                504,
                format!("Unsupported checksum algorithm {alg}."),
            ));
        };
        let path = self.login.resolve(arg)?;
        let cache = self.ep.checksums.clone();
        let sum = self
            .fs_long(link, move |root, cancel| {
                let mut file = root.open_read(&path)?;
                let result = if offset == 0 && length.is_none() {
                    cache.whole_file_until(&mut file, alg, cancel)
                } else {
                    compute_until(&mut file, alg, offset, length, cancel)
                };
                result.map_err(StorageError::from_io)
            })
            .await?;
        Ok(Answer::reply(213, sum))
    }
}
