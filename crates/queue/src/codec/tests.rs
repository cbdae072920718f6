use super::*;
use proptest::prelude::*;
use prost::Message;

fn full_span() -> Span {
    let mut s = Span::new(
        TraceId::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10),
        SpanId::from_u64(0x1122_3344_5566_7788),
        "chat gpt-4o",
        1_700_000_000_000_000_000,
    );
    s.project_id = Arc::from("acme");
    s.parent_span_id = Some(SpanId::from_u64(7));
    s.service_name = Arc::from("svc");
    s.scope_name = Arc::from("openai");
    s.environment = Some(Arc::from("prod"));
    s.otel_kind = OtelKind::Client;
    s.kind = SpanKind::Llm;
    s.finish(1_700_000_000_500_000_000);
    s.status = Status::Error;
    s.status_message = Some("rate limited ✓".into());
    s.session_id = Some("sess".into());
    s.user_id = Some("u1".into());
    s.agent_name = Some("planner".into());
    s.agent_id = Some("a-1".into());
    s.tool_name = Some("search".into());
    s.provider = Some("openai".into());
    s.request_model = Some("gpt-4o".into());
    s.response_model = Some("gpt-4o-2024-08-06".into());
    s.tokens = Tokens {
        input: Some(100),
        output: Some(-5),
        cache_read: Some(0),
        cache_write: None,
        reasoning: Some(i64::MAX),
        total: Some(i64::MIN),
    };
    s.cost_usd = Some(0.001_25);
    s.cost_source = Some(CostSource::Reported);
    s.input = Some(r#"[{"role":"user","content":"hi"}]"#.into());
    s.output = Some(String::new());
    s.attributes = JsonText::parse(r#"{"k":[1,"x",{"n":null}]}"#.into()).unwrap();
    s.resource_attributes = Arc::new(JsonText::parse(r#"{"service.name":"svc"}"#.into()).unwrap());
    s.events = vec![Event {
        time_ns: -3,
        name: "exception".into(),
        attributes: JsonText::parse(r#"{"exception.message":"boom"}"#.into()).unwrap(),
    }];
    s.links = vec![Link {
        trace_id: TraceId::from_u128(9),
        span_id: SpanId::from_u64(0),
        attributes: JsonText::default(),
    }];
    let mut c = Conventions::default();
    c.insert(spyglass_model::Convention::GenAi);
    c.insert(spyglass_model::Convention::Plain);
    s.conventions = c;
    s.unmapped_keys = vec!["x.y".into(), String::new()];
    s.received_ns = 42;
    s
}

fn full_finding(span: &Span) -> SpanFinding {
    SpanFinding::on(
        span,
        Finding {
            category: Category::Secret,
            detector: Cow::Borrowed("secret.openai_api_key"),
            severity: Severity::Critical,
            score: 0.93,
            field: Field::Attribute,
            key: Some("api.key".into()),
            start: 3,
            end: 40,
            evidence: "sk-…".into(),
            vector: Some(Vector::Indirect),
            encoding: Some(Encoding::Base64),
        },
    )
}

#[test]
fn spans_round_trip_every_field() {
    let a = full_span();
    let mut b = Span::new(TraceId::from_u128(5), SpanId::from_u64(6), "", 0);
    b.attributes = JsonText::default();
    let spans = vec![a.clone(), a, b];
    let bytes = encode_spans(&spans);
    assert_eq!(bytes[0], FORMAT_V1);
    let back = decode_spans(&bytes).unwrap();
    assert_eq!(back, spans);
    assert_eq!(&*back[0].project_id, "acme");
    // Equal neighbours share one allocation, as they did at ingest.
    assert!(Arc::ptr_eq(&back[0].service_name, &back[1].service_name));
    assert!(Arc::ptr_eq(&back[0].project_id, &back[1].project_id));
    assert!(Arc::ptr_eq(
        &back[0].resource_attributes,
        &back[1].resource_attributes
    ));
}

#[test]
fn batch_round_trips_with_findings() {
    let s = full_span();
    let batch = Batch {
        findings: vec![full_finding(&s)],
        spans: vec![s],
    };
    let back = decode_batch(&encode_batch(&batch)).unwrap();
    assert_eq!(back, batch);
    assert_eq!(&*back.findings[0].project_id, "acme");
    assert_eq!(
        decode_batch(&encode_batch(&Batch::default())).unwrap(),
        Batch::default()
    );
}

#[test]
fn empty_and_unknown_versions_are_errors() {
    assert!(matches!(decode_spans(&[]), Err(QueueError::Decode(_))));
    let mut bytes = encode_spans(&[full_span()]);
    bytes[0] = 2;
    let err = decode_spans(&bytes).unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");
    assert!(decode_batch(&[0]).is_err());
}

#[test]
fn every_truncation_is_an_error_or_a_prefix_never_a_panic() {
    let bytes = encode_batch(&Batch {
        spans: vec![full_span(), full_span()],
        findings: vec![full_finding(&full_span())],
    });
    for n in 0..bytes.len() {
        let _ = decode_batch(&bytes[..n]);
        let _ = decode_spans(&bytes[..n]);
    }
    // Cutting inside the last message is always detected.
    assert!(decode_batch(&bytes[..bytes.len() - 1]).is_err());
}

fn msg_bytes(m: SpanMsg) -> Vec<u8> {
    frame(&SpansMsg { spans: vec![m] })
}

#[test]
fn bad_codes_ids_and_json_are_decode_errors() {
    let good = span_msg(&full_span());
    let cases: Vec<(&str, SpanMsg)> = vec![
        (
            "span kind",
            SpanMsg {
                kind: 10,
                ..good.clone()
            },
        ),
        (
            "otel kind",
            SpanMsg {
                otel_kind: 300,
                ..good.clone()
            },
        ),
        (
            "status",
            SpanMsg {
                status: 3,
                ..good.clone()
            },
        ),
        (
            "cost source",
            SpanMsg {
                cost_source: Some(9),
                ..good.clone()
            },
        ),
        (
            "trace id",
            SpanMsg {
                trace_id: vec![0; 16],
                ..good.clone()
            },
        ),
        (
            "trace id",
            SpanMsg {
                trace_id: vec![1; 15],
                ..good.clone()
            },
        ),
        (
            "span id",
            SpanMsg {
                span_id: vec![],
                ..good.clone()
            },
        ),
        (
            "span id",
            SpanMsg {
                parent_span_id: Some(vec![1; 9]),
                ..good.clone()
            },
        ),
        (
            "attributes",
            SpanMsg {
                attributes: "{nope".into(),
                ..good.clone()
            },
        ),
        (
            "resource",
            SpanMsg {
                resource_attributes: "[1,".into(),
                ..good.clone()
            },
        ),
        (
            "conventions",
            SpanMsg {
                conventions: 1 << 16,
                ..good.clone()
            },
        ),
        (
            "event",
            SpanMsg {
                events: vec![EventMsg {
                    time_ns: 0,
                    name: String::new(),
                    attributes: "}".into(),
                }],
                ..good.clone()
            },
        ),
        (
            "link",
            SpanMsg {
                links: vec![LinkMsg {
                    trace_id: vec![1],
                    span_id: vec![1; 8],
                    attributes: String::new(),
                }],
                ..good.clone()
            },
        ),
    ];
    for (what, m) in cases {
        match decode_spans(&msg_bytes(m)) {
            Err(QueueError::Decode(e)) => assert!(!e.is_empty(), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert!(decode_spans(&msg_bytes(good)).is_ok());
    let mut f = finding_msg(&full_finding(&full_span()));
    f.severity = 4;
    let bytes = frame(&BatchMsg {
        spans: vec![],
        findings: vec![f],
    });
    assert!(matches!(decode_batch(&bytes), Err(QueueError::Decode(_))));
    // Invalid UTF-8 in a string field.
    let mut raw = vec![FORMAT_V1];
    SpansMsg::default().encode(&mut raw).unwrap();
    raw.extend_from_slice(&[0x0a, 0x03, 0x2a, 0x01, 0xff]);
    assert!(decode_spans(&raw).is_err());
}

fn opt<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    proptest::option::of(s)
}

fn json_text() -> impl Strategy<Value = JsonText> {
    prop_oneof![
        Just(JsonText::default()),
        Just(JsonText::empty_object()),
        Just(JsonText::empty_array()),
        (".*", any::<i64>()).prop_map(|(k, v)| JsonText::from_value(&serde_json::json!({ k: v }))),
    ]
}

prop_compose! {
    fn arb_span()(
        ids in (1u128.., 1u64.., opt(any::<u64>())),
        names in (".*", ".*", ".*", ".*", opt(".*")),
        codes in (0..OtelKind::ALL.len(), 0..SpanKind::ALL.len(), 0..Status::ALL.len(), opt(0..CostSource::ALL.len())),
        times in (any::<i64>(), opt(any::<i64>()), any::<i64>()),
        strs in proptest::collection::vec(opt(".*"), 11),
        tok in proptest::collection::vec(opt(any::<i64>()), 6),
        cost in opt(-1e12f64..1e12),
        json in (json_text(), json_text()),
        events in proptest::collection::vec((any::<i64>(), ".*", json_text()), 0..3),
        links in proptest::collection::vec((any::<u128>(), any::<u64>(), json_text()), 0..3),
        conv in any::<u16>(),
        unmapped in proptest::collection::vec(".*", 0..3),
    ) -> Span {
        let mut s = Span::new(TraceId::from_u128(ids.0), SpanId::from_u64(ids.1), &names.0, times.0);
        s.parent_span_id = ids.2.map(SpanId::from_u64);
        s.project_id = Arc::from(names.1.as_str());
        s.service_name = Arc::from(names.2.as_str());
        s.scope_name = Arc::from(names.3.as_str());
        s.environment = names.4.map(Arc::from);
        s.otel_kind = OtelKind::ALL[codes.0];
        s.kind = SpanKind::ALL[codes.1];
        s.status = Status::ALL[codes.2];
        s.cost_source = codes.3.map(|c| CostSource::ALL[c]);
        if let Some(end) = times.1 {
            s.finish(end);
        }
        s.received_ns = times.2;
        let mut st = strs.into_iter();
        let mut next = || st.next().unwrap();
        s.status_message = next();
        s.session_id = next();
        s.user_id = next();
        s.agent_name = next();
        s.agent_id = next();
        s.tool_name = next();
        s.provider = next();
        s.request_model = next();
        s.response_model = next();
        s.input = next();
        s.output = next();
        s.tokens = Tokens { input: tok[0], output: tok[1], cache_read: tok[2], cache_write: tok[3], reasoning: tok[4], total: tok[5] };
        s.cost_usd = cost;
        s.attributes = json.0;
        s.resource_attributes = Arc::new(json.1);
        s.events = events.into_iter().map(|(t, n, a)| Event { time_ns: t, name: n, attributes: a }).collect();
        s.links = links.into_iter().map(|(t, i, a)| Link { trace_id: TraceId::from_u128(t), span_id: SpanId::from_u64(i), attributes: a }).collect();
        s.conventions = Conventions::from_bits(conv);
        s.unmapped_keys = unmapped;
        s
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_spans_round_trip(spans in proptest::collection::vec(arb_span(), 0..4)) {
        let back = decode_spans(&encode_spans(&spans)).unwrap();
        prop_assert_eq!(back, spans);
    }

    #[test]
    fn arbitrary_batches_round_trip(
        spans in proptest::collection::vec(arb_span(), 1..3),
        score in any::<f32>().prop_filter("NaN never equals itself", |f| !f.is_nan()),
        range in (any::<u32>(), any::<u32>()),
        key in opt(".*"),
    ) {
        let findings = spans.iter().map(|s| {
            let mut f = full_finding(s);
            f.finding.score = score;
            f.finding.start = range.0 as usize;
            f.finding.end = range.1 as usize;
            f.finding.key = key.clone();
            f
        }).collect();
        let batch = Batch { spans, findings };
        prop_assert_eq!(decode_batch(&encode_batch(&batch)).unwrap(), batch);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_spans(&bytes);
        let mut framed = vec![FORMAT_V1];
        framed.extend_from_slice(&bytes);
        let _ = decode_batch(&framed);
    }
}

/// Writes the fuzz target's seed corpus: `cargo test --release -p spyglass-queue -- --ignored
/// write_fuzz_seeds` with SPYGLASS_FUZZ_SEED_DIR set (file names are then made SHA-1 by
/// `fuzz/corpus` convention; see the report of the crate).
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let dir = std::env::var("SPYGLASS_FUZZ_SEED_DIR").expect("SPYGLASS_FUZZ_SEED_DIR");
    let s = full_span();
    let batch = encode_batch(&Batch {
        findings: vec![full_finding(&s)],
        spans: vec![s.clone()],
    });
    let small = encode_spans(&[Span::new(
        TraceId::from_u128(1),
        SpanId::from_u64(1),
        "x",
        1,
    )]);
    let spans = encode_spans(&[s.clone(), s]);
    let seeds = [
        batch.clone(),
        small.clone(),
        spans.clone(),
        encode_spans(&[]),
        batch[..batch.len() / 2].to_vec(),
        spans[..spans.len() - 3].to_vec(),
        small[..9].to_vec(),
    ];
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(format!("{dir}/seed-{i}"), seed).unwrap();
    }
}
