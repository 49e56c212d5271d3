//! The domain's names (`[directory]`): the naming context, the NetBIOS name, the UPN suffix and
//! the users container, as the directory and every front door spell entries and logins.

/// `[directory]`, validated.
#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    pub base_dn: String,
    pub netbios_name: String,
    pub upn_suffix: String,
    pub users_container: String,
}
