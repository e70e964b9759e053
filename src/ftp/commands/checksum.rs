//! CKSM (GFD.47 "CKSM"): `213 <hex>` for a whole file (cached) or a byte range.

use crate::ftp::error::FtpError;
use crate::ftp::session::{Flow, Session};
use crate::storage::checksum::{compute_until, Algorithm};
use crate::storage::StorageError;

impl Session {
    pub(crate) async fn cmd_cksm(
        &mut self,
        alg: &str,
        offset: u64,
        length: Option<u64>,
        arg: &str,
    ) -> Result<Flow, FtpError> {
        let Some(alg) = Algorithm::parse(alg) else {
            return self
                .done(504, format!("Unsupported checksum algorithm {alg}."))
                .await;
        };
        let path = self.resolve(arg)?;
        let cache = self.ep.checksums.clone();
        let sum = self
            .fs_long(move |root, cancel| {
                let mut file = root.open_read(&path)?;
                let result = if offset == 0 && length.is_none() {
                    cache.whole_file_until(&mut file, alg, cancel)
                } else {
                    compute_until(&mut file, alg, offset, length, cancel)
                };
                result.map_err(StorageError::from_io)
            })
            .await?;
        self.done(213, sum).await
    }
}
