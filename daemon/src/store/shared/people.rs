//! Backend-neutral parts of the people store code (see `store::shared`):
//! who holds a token once a backend has found its row, the refusals of the
//! people and saved-query stores, and the saved-query cap.

use crate::auth::TokenHash;
use crate::people::Principal;
use crate::store::StoreError;

/// Refusal to add a person whose name is taken.
pub fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("person `{name}`"))
}

/// Refusal to give a token to a person who does not exist.
pub fn no_such_person(name: &str) -> StoreError {
    StoreError::NotFound(format!("person `{name}`"))
}

/// Who holds the token `asked`, given the row found by its hash through
/// the unique index: the `stored` hash (compared again in constant time,
/// so an index that matched loosely never lets a wrong token in), the
/// person's `name` and `role`. `None` when the stored hash is not `asked`.
///
/// # Errors
/// [`StoreError::Refused`] when the stored role is not one Census knows.
pub fn holder(stored: Vec<u8>, asked: &TokenHash, name: String, role: &str) -> Result<Option<Principal>, StoreError> {
    let stored: Option<TokenHash> = stored.try_into().ok();
    if !stored.is_some_and(|s| crate::auth::same(&s, asked)) {
        return Ok(None);
    }
    let role = role.parse().map_err(StoreError::Refused)?;
    Ok(Some(Principal { name, role, builtin: false }))
}

/// Whether a person holding `count` saved searches may save another:
/// replacing one of the same page and name (`exists`) always may; a new one
/// only under `cap`.
///
/// # Errors
/// [`StoreError::Refused`] at the cap.
pub fn room_for_saved_query(exists: bool, count: i64, cap: usize) -> Result<(), StoreError> {
    if !exists && usize::try_from(count).unwrap_or(usize::MAX) >= cap {
        return Err(StoreError::Refused(format!("at most {cap} saved searches a person; delete one first")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{holder, room_for_saved_query};
    use crate::people::Role;
    use crate::store::StoreError;

    #[test]
    fn a_token_is_held_only_when_its_stored_hash_is_the_one_asked() {
        let p = holder(vec![5; 32], &[5; 32], "ann".into(), "analyst").unwrap().unwrap();
        assert_eq!((p.name.as_str(), p.role, p.builtin), ("ann", Role::Analyst, false));
        assert!(holder(vec![5; 32], &[6; 32], "ann".into(), "analyst").unwrap().is_none());
        assert!(holder(vec![5; 31], &[5; 32], "ann".into(), "analyst").unwrap().is_none(), "a short hash");
        assert!(matches!(holder(vec![5; 32], &[5; 32], "ann".into(), "root"), Err(StoreError::Refused(_))));
    }

    #[test]
    fn saved_queries_are_capped_but_may_be_replaced_at_the_cap() {
        assert!(room_for_saved_query(false, 2, 3).is_ok());
        assert!(matches!(room_for_saved_query(false, 3, 3), Err(StoreError::Refused(_))));
        assert!(room_for_saved_query(true, 3, 3).is_ok());
    }
}
