//! The end of a key's life: which DEPs a root key version still protects, the data purge
//! path (request, approval by a second person, crypto-shredding), and the unified audit log.

use serde::Serialize;
use serde_json::json;

use super::dep::{self, DataEncryptionPolicy, STATE_ACTIVE, STATE_PENDING_PURGE, STATE_PURGED};
use super::keys::{audit, key_uri_versionless, ServiceKeys};
use super::principal::Authenticated;
use super::{Error, ErrorKind, Result};
use crate::store::{PurgeSignatureRow, Store};
use crate::vault::{KeyId, KeyPermission, VaultError, EXCHANGE_ONLINE_APP_ID};

/// A DEP whose key a root key version still wraps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    /// The policy as a warning names it, e.g. `data encryption policy 'US Mailboxes'`.
    pub policy: String,
    /// What users lose access to when the key version stops working.
    pub consequence: &'static str,
    pub key_uri: String,
    pub version: String,
}

/// The policies whose live DEP-key (or TIK) copies are wrapped by `key_uri` (any version when
/// `version` is `None`): mailbox, multi-workload and SharePoint geo policies.
pub fn deps_using_key(
    store: &mut Store,
    key_uri: &str,
    version: Option<&str>,
) -> Result<Vec<KeyUse>> {
    let want = key_uri_versionless(key_uri).to_ascii_lowercase();
    deps_using(store, |uri, v| {
        uri == want && version.is_none_or(|x| x.eq_ignore_ascii_case(v))
    })
}

/// The policies with a live copy wrapped by the key `name` of `vault` (any version when
/// `version` is `None`): key vaults and Managed HSMs share one namespace of names, so the key
/// ids of either kind count.
pub fn deps_using_key_named(
    store: &mut Store,
    vault: &str,
    name: &str,
    version: Option<&str>,
) -> Result<Vec<KeyUse>> {
    let mut uses = Vec::new();
    for hsm in [false, true] {
        let uri = crate::vault::ids::key_id_string_in(vault, hsm, name, None);
        uses.extend(deps_using_key(store, &uri, version)?);
    }
    Ok(uses)
}

/// The policies with a live copy wrapped by a key in the vault `vault` (any key, any version).
pub fn deps_in_vault(store: &mut Store, vault: &str) -> Result<Vec<KeyUse>> {
    deps_in_container(store, vault, false)
}

/// The same for a key vault or (`managed_hsm`) a Managed HSM.
pub fn deps_in_container(store: &mut Store, name: &str, managed_hsm: bool) -> Result<Vec<KeyUse>> {
    let prefix = format!(
        "{}keys/",
        crate::vault::ids::container_uri(name, managed_hsm)
    );
    deps_using(store, |uri, _| uri.starts_with(&prefix))
}

/// The policies with a live copy wrapped by a key on the KMIP server `host:port`.
pub fn deps_on_kmip_server(store: &mut Store, server: &str) -> Result<Vec<KeyUse>> {
    let prefix = format!("kmip://{server}/").to_ascii_lowercase();
    deps_using(store, |uri, _| uri.starts_with(&prefix))
}

/// The policies with a live copy wrapped by a key whose versionless URI (lower case) and
/// version `wanted` accepts.
fn deps_using(store: &mut Store, wanted: impl Fn(&str, &str) -> bool) -> Result<Vec<KeyUse>> {
    store.read(|tx| {
        let mut out = Vec::new();
        let mut deps = tx.deps(dep::KIND_MAILBOX)?;
        deps.extend(tx.deps(dep::KIND_M365)?);
        for d in deps {
            for w in tx.root_wraps(&d.guid)? {
                if wanted(&w.key_uri.to_ascii_lowercase(), &w.version) {
                    let m365 = d.kind == dep::KIND_M365;
                    out.push(KeyUse {
                        policy: format!(
                            "{} '{}'",
                            if m365 { dep::DepKind::M365 } else { dep::DepKind::Mailbox }.noun(),
                            d.name
                        ),
                        consequence: if m365 {
                            "users lose access to the tenant's Teams messages and to mailboxes without a mailbox DEP (only service operations may use the availability key)"
                        } else {
                            "users lose access to its mailboxes (only service operations may use the availability key)"
                        },
                        key_uri: w.key_uri.clone(),
                        version: w.version.clone(),
                    });
                }
            }
        }
        // SharePoint geo policies keep versioned URIs.
        for d in tx.spo_deps()? {
            for w in tx.spo_root_wraps(&d.guid)? {
                // A KMIP URI is no vault key id: it is matched as it is.
                let (uri, v) = match KeyId::parse(&w.key_uri) {
                    Ok(id) => (
                        id.versionless().to_string(),
                        id.version.clone().unwrap_or_default(),
                    ),
                    Err(_) => (w.key_uri.clone(), String::new()),
                };
                if wanted(&uri.to_ascii_lowercase(), &v) {
                    out.push(KeyUse {
                        policy: format!("the SharePoint geo policy of {}", d.geo),
                        consequence: "the geo's files become unreadable once the cached TIK expires, unless the other key still works (the availability key serves recovery only)",
                        key_uri: uri,
                        version: v,
                    });
                }
            }
        }
        Ok(out)
    })
}

/// `Set-DataEncryptionPolicy -PermanentDataPurgeRequested`: refused while the Exchange service
/// still has wrapKey or unwrapKey on either key (with `force`, a vault that no longer exists is
/// accepted as revoked). The DEP goes to PendingDataPurge and can no longer be assigned.
pub fn request_purge(
    store: &mut Store,
    keys: &mut ServiceKeys,
    identity: &str,
    reason: &str,
    contact: &str,
    force: bool,
    requester_principal: &Authenticated,
) -> Result<DataEncryptionPolicy> {
    let requester = requester_principal.upn.as_str();
    if reason.trim().is_empty() || contact.trim().is_empty() {
        return Err(Error::invalid(
            "a data purge request needs -PermanentDataPurgeReason and -PermanentDataPurgeContact",
        )
        .with_help("say why, and who to contact about the purge"));
    }
    let d = dep::resolve(store, dep::DepKind::Mailbox, identity)?;
    match d.state.as_str() {
        STATE_ACTIVE => {}
        STATE_PENDING_PURGE => {
            return Err(Error::rule(format!(
                "a data purge of '{}' was already requested",
                d.name
            ))
            .with_help(format!(
            "a data purge approver approves it: custkey Approve-DataPurgeRequest -Identity \"{}\"",
            d.name
        )))
        }
        _ => {
            return Err(
                Error::rule(format!("the data of '{}' was already purged", d.name)).with_help(
                    "nothing is left to purge; Search-UnifiedAuditLog shows the purge's records",
                ),
            )
        }
    }
    let wraps = store.read(|tx| -> Result<_> { Ok(tx.root_wraps(&d.guid)?) })?;
    for w in &wraps {
        let id = KeyId::parse(&w.key_uri)?;
        let props = keys.vaults.vault(&id.vault).and_then(|v| v.properties());
        keys.check_vaults(store)?;
        match props {
            Ok(info) => {
                let granted: Vec<&str> = info
                    .access_policies
                    .iter()
                    .filter(|p| p.application_id.as_deref() == Some(EXCHANGE_ONLINE_APP_ID))
                    .flat_map(|p| p.permissions_to_keys.iter())
                    .filter(|k| matches!(k, KeyPermission::WrapKey | KeyPermission::UnwrapKey))
                    .map(|k| k.as_str())
                    .collect();
                // On an RBAC vault, its roles that wrap or unwrap at the vault, a key or above.
                let exo = crate::vault::Principal::ServicePrincipal(EXCHANGE_ONLINE_APP_ID.into());
                if let Some(a) = info.role_assignments.iter().find(|a| {
                    info.enable_rbac_authorization
                        && a.principal.same_as(&exo)
                        && a.role().is_some_and(|r| {
                            r.keys.contains(&KeyPermission::WrapKey)
                                || r.keys.contains(&KeyPermission::UnwrapKey)
                        })
                }) {
                    let role = a.role().map(|r| r.name).unwrap_or_default();
                    return Err(Error::rule(format!(
                        "the Exchange Online service still holds '{role}' at {} (key vault '{}'); a data purge needs the service's access removed from both vaults first",
                        a.scope, info.vault_name
                    ))
                    .with_help(format!(
                        "run: custkey Remove-AzRoleAssignment -ApplicationId {EXCHANGE_ONLINE_APP_ID} -RoleDefinitionName '{role}' -Scope {}",
                        a.scope
                    )));
                }
                if !granted.is_empty() {
                    return Err(Error::rule(format!(
                        "the Exchange Online service still has {} on key vault '{}'; a data purge needs the service's access removed from both vaults first",
                        granted.join(" and "),
                        info.vault_name
                    ))
                    .with_help(format!(
                        "run: custkey Remove-AzKeyVaultAccessPolicy -VaultName {} -ServicePrincipalName {EXCHANGE_ONLINE_APP_ID}",
                        info.vault_name
                    )));
                }
            }
            Err(VaultError::NotFound(_)) if force => {}
            Err(VaultError::NotFound(m)) => {
                return Err(Error::rule(format!(
                    "the key vault of {} cannot be found ({m})",
                    w.key_uri
                ))
                .with_help("if the vault was deleted, add -Force to request the purge anyway"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let org = super::org::get(store)?;
    require_approver(&org, requester)?;
    let org_id = org.guid.clone();
    let (t, statement, signature) = requester_principal.sign_dated(PURGE_NAMESPACE, |t| {
        request_statement(
            &org.guid, &org.name, &d.guid, &d.name, reason, contact, requester, t,
        )
    })?;
    store.write(|tx| {
        if !tx.request_dep_purge(&d.guid, reason, contact, requester, &t)? {
            return Err(Error::rule(format!(
                "the state of '{}' changed while this command ran (another purge request or approval); nothing was changed",
                d.name
            ))
            .with_help(format!("see its state: custkey Get-DataEncryptionPolicy -Identity \"{}\"", d.name)));
        }
        tx.put_purge_signature(&PurgeSignatureRow {
            dep_guid: d.guid.clone(),
            step: STEP_REQUEST.into(),
            upn: requester.to_string(),
            fingerprint: requester_principal.fingerprint.clone(),
            statement: statement.clone(),
            signature: signature.clone(),
        })?;
        audit(tx, &org_id, "ExchangeAdmin", "Set-DataEncryptionPolicy -PermanentDataPurgeRequested", requester, &d.guid,
            json!({"Policy Id": d.guid, "Name": d.name, "PermanentDataPurgeReason": reason, "PermanentDataPurgeContact": contact, "Force": force, "Fingerprint": requester_principal.fingerprint}))
    })?;
    dep::get(store, dep::DepKind::Mailbox, &d.guid)
}

/// What a completed data purge destroyed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PurgeReport {
    #[serde(rename = "DataEncryptionPolicy")]
    pub policy: String,
    #[serde(rename = "DataEncryptionPolicyId")]
    pub policy_id: String,
    #[serde(rename = "RequestedBy")]
    pub requested_by: String,
    #[serde(rename = "ApprovedBy")]
    pub approved_by: String,
    #[serde(rename = "Mailboxes")]
    pub mailboxes: Vec<String>,
    #[serde(rename = "ItemsDeleted")]
    pub items: u64,
    #[serde(rename = "BytesDeleted")]
    pub bytes: u64,
    #[serde(rename = "MailboxKeysDestroyed")]
    pub mailbox_keys: u64,
    #[serde(rename = "WrappedDepKeysDestroyed")]
    pub wrapped_dep_keys: u64,
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "CompletedTime")]
    pub completed: String,
    /// The signed request and approval: anyone can check them later with `ssh-keygen -Y
    /// verify` (docs/lifecycle.md).
    #[serde(rename = "Signatures")]
    pub signatures: Vec<PurgeSignature>,
}

/// One signed step of a data purge, as the report carries it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PurgeSignature {
    #[serde(rename = "Step")]
    pub step: String,
    #[serde(rename = "Principal")]
    pub principal: String,
    #[serde(rename = "Fingerprint")]
    pub fingerprint: String,
    /// The line for an `ssh-keygen -Y verify -f <allowed signers>` file.
    #[serde(rename = "AllowedSigner")]
    pub allowed_signer: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    /// The exact text signed.
    #[serde(rename = "Statement")]
    pub statement: String,
    /// The armored SSHSIG signature of the statement.
    #[serde(rename = "Signature")]
    pub signature: String,
}

/// Both steps of a data purge are made by listed approvers (NFKC-normalised names).
fn require_approver(org: &super::org::Organization, who: &str) -> Result<()> {
    if org
        .data_purge_approvers
        .iter()
        .any(|a| super::org::same_principal(a, who))
    {
        return Ok(());
    }
    Err(Error::new(ErrorKind::AccessDenied, format!("{who} is not a data purge approver of {}", org.name))
        .with_help("a data purge is requested and approved by two of the approvers listed with Set-OrganizationConfig -DataPurgeApprovers; sign in as one with Connect-AzAccount"))
}

/// The SSHSIG namespace of data purge signatures (`ssh-keygen -Y verify -n custkey-purge`).
pub const PURGE_NAMESPACE: &str = "custkey-purge";
const STEP_REQUEST: &str = "request";
const STEP_APPROVAL: &str = "approval";

#[allow(clippy::too_many_arguments)]
fn request_statement(
    org_guid: &str,
    org_name: &str,
    dep_guid: &str,
    dep_name: &str,
    reason: &str,
    contact: &str,
    requester: &str,
    time: &str,
) -> String {
    // One field a line; values are written with their control characters escaped, so no
    // value can forge a line of its own.
    let v = |s: &str| s.escape_default().to_string();
    format!(
        "custkey data purge request\norganization: {} {}\npolicy: {} {}\nreason: {}\ncontact: {}\nrequested-by: {}\ntime: {}\n",
        v(org_guid), v(org_name), v(dep_guid), v(dep_name), v(reason), v(contact), v(requester), v(time)
    )
}

fn approval_statement(
    org_guid: &str,
    dep_guid: &str,
    request: &str,
    approver: &str,
    time: &str,
) -> String {
    let v = |s: &str| s.escape_default().to_string();
    format!(
        "custkey data purge approval\norganization: {}\npolicy: {}\nrequest-sha256: {}\napproved-by: {}\ntime: {}\n",
        v(org_guid), v(dep_guid), hex::encode(crate::crypto::sha256(request.as_bytes())), v(approver), v(time)
    )
}

fn report_signature(row: &PurgeSignatureRow, public_key: &str) -> PurgeSignature {
    PurgeSignature {
        step: row.step.clone(),
        principal: row.upn.clone(),
        fingerprint: row.fingerprint.clone(),
        allowed_signer: format!("{} namespaces=\"{PURGE_NAMESPACE}\" {public_key}", row.upn),
        namespace: PURGE_NAMESPACE.into(),
        statement: row.statement.clone(),
        signature: row.signature.clone(),
    }
}

/// Approves a pending data purge: a different person from the requester, listed in the
/// organization's DataPurgeApprovers. Destroys the availability key, every wrapped copy of the
/// DEP key and the mailbox keys under it, deletes the content, marks the mailboxes and audits a
/// report. Deleted rows are overwritten, the write-ahead log is truncated, and the mailboxes'
/// content files are deleted.
pub fn approve_purge(
    store: &mut Store,
    keys: &mut ServiceKeys,
    identity: &str,
    approver_principal: &Authenticated,
) -> Result<PurgeReport> {
    let approver = approver_principal.upn.as_str();
    let d = dep::resolve(store, dep::DepKind::Mailbox, identity)?;
    if d.state != STATE_PENDING_PURGE {
        return Err(Error::rule(format!("no data purge of '{}' is pending (its state is {})", d.name, d.state))
            .with_help(format!("request one first: custkey Set-DataEncryptionPolicy -Identity \"{}\" -PermanentDataPurgeRequested -PermanentDataPurgeReason ... -PermanentDataPurgeContact ...", d.name)));
    }
    let org = super::org::get(store)?;
    require_approver(&org, approver)?;
    let requester = d.purge_requested_by.clone().unwrap_or_default();
    if super::org::same_principal(&requester, approver) {
        return Err(Error::new(
            ErrorKind::AccessDenied,
            format!("{approver} requested this purge and cannot also approve it"),
        )
        .with_help("a second data purge approver must approve"));
    }
    // The request's signature, checked against the requester's registered key; and a second
    // key: two accounts sharing a key are one person.
    let request = store
        .read(|tx| -> Result<_> { Ok(tx.purge_signatures(&d.guid)?) })?
        .into_iter()
        .find(|s| s.step == STEP_REQUEST)
        .ok_or_else(|| {
            Error::new(ErrorKind::AccessDenied, format!("the data purge request of '{}' carries no signature", d.name))
                .with_help(format!("request it again (signed) as a data purge approver: custkey Set-DataEncryptionPolicy -Identity \"{}\" -PermanentDataPurgeRequested ...", d.name))
        })?;
    let requester_row = super::principal::registered(store, keys, &requester)?;
    if !super::org::same_principal(&request.upn, &requester)
        || request.fingerprint != requester_row.fingerprint
    {
        return Err(Error::new(ErrorKind::AccessDenied, format!("the signed request of '{}' does not name its requester {requester} and key", d.name))
            .with_help("the store was altered; nothing was purged. Restore it from a backup, or request the purge again"));
    }
    let requester_key = crate::identity::parse_public_key(&requester_row.public_key)?;
    crate::identity::verify(
        &requester_key,
        PURGE_NAMESPACE,
        request.statement.as_bytes(),
        &request.signature,
    )
    .map_err(|e| {
        Error::new(
            ErrorKind::AccessDenied,
            format!(
                "the signature of the data purge request of '{}' does not verify: {}",
                d.name, e.message
            ),
        )
        .with_help("the request was altered; nothing was purged. Request the purge again")
    })?;
    if !request
        .statement
        .contains(&format!("\npolicy: {} ", d.guid))
    {
        return Err(Error::new(
            ErrorKind::AccessDenied,
            format!(
                "the signed request found for '{}' is about another policy",
                d.name
            ),
        )
        .with_help("the store was altered; nothing was purged"));
    }
    if requester_row.fingerprint == approver_principal.fingerprint {
        return Err(Error::new(
            ErrorKind::AccessDenied,
            format!("{approver} signs with the same key as the requester {requester} and cannot approve"),
        )
        .with_help("a second data purge approver, with a key of their own, must approve"));
    }
    let (t, approval_text, approval_sig) = approver_principal.sign_dated(PURGE_NAMESPACE, |t| {
        approval_statement(&org.guid, &d.guid, &request.statement, approver, t)
    })?;
    let approval = PurgeSignatureRow {
        dep_guid: d.guid.clone(),
        step: STEP_APPROVAL.into(),
        upn: approver.to_string(),
        fingerprint: approver_principal.fingerprint.clone(),
        signature: approval_sig,
        statement: approval_text,
    };
    let signatures = vec![
        report_signature(&request, &requester_row.public_key),
        report_signature(&approval, &approver_principal.public_key),
    ];
    let mut purged = Vec::new();
    let report = store.write(|tx| {
        // The state change comes first and is guarded: of two approvals, or an approval and
        // anything else that changes the DEP, one wins whole.
        if !tx.mark_dep_purged(&d.guid, &t)? {
            return Err(Error::rule(format!(
                "the data purge of '{}' is no longer pending (another command approved or changed it while this one ran); nothing was changed",
                d.name
            ))
            .with_help(format!("see its state: custkey Get-DataEncryptionPolicy -Identity \"{}\"", d.name)));
        }
        let recipients = tx.recipients_of_dep(&d.guid)?;
        let (mut items, mut bytes) = (0u64, 0u64);
        let mut names = Vec::new();
        for mut r in recipients {
            purged.push(r.guid.clone());
            let (n, b) = tx.delete_items_of(&r.guid)?;
            items += n;
            bytes += b;
            r.data_purged = Some(t.clone());
            r.when_changed = t.clone();
            tx.update_recipient(&r)?;
            // An archive's content goes with its mailbox's; the mailbox is the one named.
            if r.kind != super::recipient::Kind::ArchiveMailbox.as_str() {
                names.push(r.name);
            }
        }
        let mut mailbox_keys = 0u64;
        for k in tx.mailbox_keys_under_dep(&d.guid)? {
            // Content of a mailbox moved away from this DEP stays under its other keys; only
            // the keys this DEP wraps are destroyed.
            tx.delete_mailbox_key(&k.mailbox_guid, &k.key_id, k.key_version)?;
            mailbox_keys += 1;
        }
        let wrapped_dep_keys =
            tx.delete_root_wraps(&d.guid)? as u64 + u64::from(d.wrapped_by_availability.is_some());
        audit(
            tx,
            &org.guid,
            "ExchangeAdmin",
            "Approve-DataPurgeRequest",
            approver,
            &d.guid,
            json!({"Policy Id": d.guid, "RequestedBy": requester, "ApprovedBy": approver, "Fingerprint": approver_principal.fingerprint}),
        )?;
        audit(
            tx,
            &org.guid,
            "CustomerKeyServiceEncryption",
            "Availability Key Destroyed",
            approver,
            &d.guid,
            json!({"Policy Id": d.guid}),
        )?;
        let report = PurgeReport {
            policy: d.name.clone(),
            policy_id: d.guid.clone(),
            requested_by: requester.clone(),
            approved_by: approver.to_string(),
            mailboxes: names,
            items,
            bytes,
            mailbox_keys,
            wrapped_dep_keys,
            state: STATE_PURGED.into(),
            completed: t.clone(),
            signatures: signatures.clone(),
        };
        tx.put_purge_signature(&approval)?;
        audit(
            tx,
            &org.guid,
            "CustomerKeyServiceEncryption",
            "Data Purge Completed",
            approver,
            &d.guid,
            serde_json::to_value(&report).unwrap_or_default(),
        )?;
        Ok::<_, Error>(report)
    })?;
    keys.forget(&d.guid);
    // The content files: every pack no item points at any more, then the purged mailboxes'
    // directories with anything else left in them (bytes of a killed import). A kill before
    // this point leaves files whose keys are already destroyed; the next import, move or purge
    // deletes them (docs/lifecycle.md).
    store.reclaim_packs()?;
    for guid in &purged {
        store.remove_mailbox_content(guid)?;
    }
    store.checkpoint()?;
    Ok(report)
}

/// A unified audit log record as `Search-UnifiedAuditLog` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditEntry {
    #[serde(rename = "RecordType")]
    pub record_type: String,
    #[serde(rename = "CreationDate")]
    pub creation_date: String,
    #[serde(rename = "UserIds")]
    pub user_ids: String,
    #[serde(rename = "Operations")]
    pub operations: String,
    #[serde(rename = "ObjectId")]
    pub object_id: String,
    #[serde(rename = "OrganizationId")]
    pub organization_id: String,
    #[serde(rename = "DataEncryptionPolicyId")]
    pub data_encryption_policy_id: Option<String>,
    #[serde(rename = "AuditData")]
    pub audit_data: serde_json::Value,
    #[serde(rename = "ResultIndex")]
    pub result_index: u64,
    #[serde(rename = "ResultCount")]
    pub result_count: u64,
}

/// `Search-UnifiedAuditLog -StartDate -EndDate [-RecordType] [-Operations] [-ResultSize]`.
pub fn search_audit(
    store: &mut Store,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    record_type: Option<&str>,
    operations: &[String],
    result_size: u64,
) -> Result<Vec<AuditEntry>> {
    if end < start {
        return Err(Error::invalid("-EndDate is before -StartDate")
            .with_help("give a start date before the end date"));
    }
    let fmt =
        |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let rows = store
        .read(|tx| -> Result<_> { Ok(tx.audit_records(&fmt(start), &fmt(end), u64::MAX)?) })?;
    let mut out: Vec<AuditEntry> = rows
        .into_iter()
        .filter(|r| record_type.is_none_or(|t| t.eq_ignore_ascii_case(&r.record_type)))
        .filter(|r| {
            operations.is_empty()
                || operations
                    .iter()
                    .any(|o| o.eq_ignore_ascii_case(&r.operation))
        })
        .map(|r| {
            let data: serde_json::Value =
                serde_json::from_str(&r.parameters).unwrap_or(serde_json::Value::Null);
            let dep_id =
                (r.record_type == "CustomerKeyServiceEncryption").then(|| r.object_id.clone());
            AuditEntry {
                record_type: r.record_type,
                creation_date: r.creation_time,
                user_ids: r.user_id,
                operations: r.operation,
                object_id: r.object_id,
                organization_id: r.organization_id,
                data_encryption_policy_id: dep_id,
                audit_data: data,
                result_index: 0,
                result_count: 0,
            }
        })
        .collect();
    out.truncate(result_size as usize);
    let n = out.len() as u64;
    for (i, e) in out.iter_mut().enumerate() {
        e.result_index = i as u64 + 1;
        e.result_count = n;
    }
    Ok(out)
}
