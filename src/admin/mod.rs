//! The administration tool's logic (`oauth-admin`): clients and tables.
