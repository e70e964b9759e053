//! GridFTP extensions (GFD.20, GFD.47) that the FTP engine switches on for the GridFTP
//! endpoint. This module holds the pure protocol pieces: the MODE E block codec and the
//! receiver's end-of-data accounting, and the range sets behind restart markers.

pub mod mode_e;
pub mod ranges;
