use super::*;

fn os(g: &[FingerprintGuess]) -> Option<(&str, f64)> {
    g.iter().find(|g| g.kind == FingerprintKind::OsFamily).map(|g| (g.value.as_str(), g.confidence))
}

#[test]
fn debians_dhclient_is_linux_by_its_request_list() {
    let g = guess(&DhcpSignatures::default(), &[1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42], None);
    assert_eq!(os(&g), Some(("linux", 0.7)));
    assert_eq!(
        g[0].evidence,
        ["DHCP parameter request list 1,28,2,3,15,6,119,12,44,47,26,121,42 is isc-dhcp-client (Debian default)'s"]
    );
    assert_eq!(g.len(), 1, "no device type from a generic client");
}

#[test]
fn a_vendor_class_names_the_client_and_agreement_raises_confidence() {
    let sigs = DhcpSignatures::default();
    let win = [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252];
    assert_eq!(os(&guess(&sigs, &win, Some("MSFT 5.0"))), Some(("windows", 0.95)));
    assert_eq!(os(&guess(&sigs, &[1, 3, 6], Some("android-dhcp-14"))), Some(("android", 0.9)));
    let phone = guess(&sigs, &[1, 3, 6], Some("android-dhcp-14"));
    assert!(phone.iter().any(|g| g.kind == FingerprintKind::DeviceType && g.value == "phone"));
    assert_eq!(os(&guess(&sigs, &[1, 3, 6, 12, 15, 28, 42], Some("udhcp 1.35.0"))), Some(("linux", 0.95)));
    // Disagreement: the vendor class, lowered, with both facts.
    let odd = guess(&sigs, &win, Some("dhcpcd-9.4.1:Linux-6.1.0:x86_64"));
    assert_eq!(os(&odd), Some(("linux", 0.6)));
    assert!(odd[0].evidence[1].contains("which says windows"), "{:?}", odd[0].evidence);
    assert!(guess(&sigs, &[1, 2, 3], Some("unknown thing")).is_empty());
    assert!(guess(&sigs, &[], None).is_empty());
}

#[test]
fn a_printer_is_a_device_type_without_a_family() {
    let g = guess(&DhcpSignatures::default(), &[1, 3], Some("Hewlett-Packard JetDirect"));
    assert_eq!(g.len(), 1);
    assert_eq!((g[0].kind, g[0].value.as_str()), (FingerprintKind::DeviceType, "printer"));
}

#[test]
fn an_operator_file_adds_entries_checked_first_and_names_its_bad_line() {
    let sigs = parse_signatures(
        "# thin clients\nprl 1,28,2,3,15,6,119,12,44,47,26,121,42 | linux | thin-client | IGEL OS\n\
         vendor ACME-SENSOR | | iot | Acme sensors\n",
    )
    .unwrap();
    let g = guess(&sigs, &[1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42], None);
    assert!(g.iter().any(|g| g.kind == FingerprintKind::DeviceType && g.value == "thin-client"), "{g:?}");
    assert!(guess(&sigs, &[], Some("acme-sensor v2")).iter().any(|g| g.value == "iot"));
    for (bad, what) in [
        ("prl 1,x | linux | | c", "line 1: `1,x` is not a list"),
        ("prl 1,3 | | | c", "at least one given"),
        ("prl 1,3 | Linux | | c", "lowercase"),
        ("vendor ab | linux | | c", "3-64"),
        ("oops 1 | linux | | c", "neither prl nor vendor"),
        ("\n\nprl 1,3 | linux", "line 3: four fields"),
        // One list, two answers: a mistake, not "the first one wins".
        (
            "prl 1,3,6,15 | linux | | a\nprl 1,3,6,15 | windows | | b",
            "line 2: the list `1,3,6,15` is already signature 1",
        ),
        (
            "vendor MSFT 5.0 | windows | | a\nvendor MSFT 5.0 | linux | | b",
            "line 2: the vendor class `MSFT 5.0` is named twice",
        ),
    ] {
        let e = parse_signatures(bad).unwrap_err();
        assert!(e.contains(what), "{bad}: {e}");
    }
}
