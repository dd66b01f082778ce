//! "How did you hear about us?":
//! - `GET /api/survey?domain=&lang=`: the question and the site's options, localised, for
//!   `web/survey.js` (public, any origin);
//! - `GET /api/v1/stats/surveys`: the self-reported × measured matrix, the share of each
//!   measured group that says it came privately, and the calibrated dark-social share.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use lucarne_core::stats::Property;
use lucarne_core::survey::{self, Response as SurveyResponse, SurveyReport, SurveyRules};
use lucarne_core::ChannelGroup;
use serde::Deserialize;
use serde_json::{json, Value};

use super::stats::{authorized, blocking, StatsParams};
use crate::error::{ApiError, Query};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct OptionsParams {
    domain: Option<String>,
    lang: Option<String>,
}

/// The survey as `web/survey.js` renders it.
pub async fn options(
    State(state): State<Arc<AppState>>,
    Query(p): Query<OptionsParams>,
) -> Result<Json<Value>, ApiError> {
    let domain = p
        .domain
        .as_deref()
        .map(lucarne_core::url_clean::normalise_host)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_field", "`domain` is required"))?;
    let site = state
        .site(&domain)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_site", format!("no site `{domain}`")))?;
    let opts = state.site_options(site.id).await?;
    if !opts.survey_enabled {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "survey_off",
            "the survey is off for this site",
        ));
    }
    let rules = SurveyRules::builtin();
    let lang = survey_lang(rules, p.lang.as_deref().unwrap_or("en"));
    let t = rules.text(&lang);
    Ok(Json(json!({
        "lang": lang,
        "question": t.question,
        "submit": t.submit,
        "thanks": t.thanks,
        "other_placeholder": t.other_placeholder,
        "other_label": t.other_label,
        "error": t.error,
        "options": rules.options_for(&opts.survey_options).iter().map(|o| json!({
            "id": o.id,
            "label": o.label(&lang),
            "free_text": o.free_text,
        })).collect::<Vec<_>>(),
    })))
}

/// The language the survey is shown in: the asked one (or its primary subtag) if the
/// rules have it, else English.
pub fn survey_lang(rules: &SurveyRules, asked: &str) -> String {
    let primary = asked
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if rules.languages().contains(&primary.as_str()) {
        primary
    } else {
        "en".into()
    }
}

/// The survey report of a period (the stats API answers it; the dashboard renders it).
pub async fn report_for(
    state: &Arc<AppState>,
    q: lucarne_core::stats::ReportQuery,
) -> Result<SurveyReport, ApiError> {
    let seed = u64::from(q.site_id) ^ q.from.timestamp() as u64;
    blocking(state, move |s| {
        let answers = s.events.survey_answers(&q)?;
        // Visits alone: without visit-level numbers, which no estimate uses and which a
        // breakdown under a page filter would read from raw events.
        let plain = lucarne_core::stats::ReportQuery {
            with_sessions: false,
            with_shares: false,
            ..q
        };
        let visits = s
            .events
            .breakdown(&plain, &Property::ChannelGroup, 100, 0)?
            .into_iter()
            .filter_map(|(g, a)| Some((ChannelGroup::parse(&g)?, a.visits)))
            .collect::<Vec<_>>();
        let responses: Vec<SurveyResponse> = answers
            .into_iter()
            .map(|a| SurveyResponse {
                answer: a.answer,
                text: a.text,
                channel_group: a.channel_group,
                channel: a.channel,
                evidence: a.evidence,
            })
            .collect();
        Ok(survey::report(
            &responses,
            &visits,
            SurveyRules::builtin(),
            seed,
        ))
    })
    .await
}

fn pct(x: f64) -> f64 {
    (x * 1000.0).round() / 10.0
}

pub fn report_json(r: &SurveyReport) -> Value {
    json!({
        "respondents": r.respondents,
        "by_answer": r.by_reported.iter()
            .map(|(a, n)| json!({ "answer": a, "respondents": n }))
            .collect::<Vec<_>>(),
        "matrix": r.matrix.iter().map(|c| json!({
            "reported": c.reported,
            "measured": c.measured.as_str(),
            "respondents": c.count,
        })).collect::<Vec<_>>(),
        "measured_groups": r.strata.iter().map(|s| json!({
            "measured": s.measured.as_str(),
            "visits": s.visits,
            "respondents": s.respondents,
            "say_private": s.private,
            "private_percent": pct(s.share),
            "interval": [pct(s.low), pct(s.high)],
        })).collect::<Vec<_>>(),
        "dark_social": r.estimate.as_ref().map(|e| json!({
            "estimated_percent": pct(e.share),
            "interval": [pct(e.low), pct(e.high)],
            "measured_percent": pct(e.measured_share),
            "respondents": e.respondents,
            "method": e.method,
        })),
        "free_texts": r.free_texts.iter().map(|(t, m, n)| json!({
            "text": t, "mapped_to": m, "respondents": n,
        })).collect::<Vec<_>>(),
    })
}

pub async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Result<Json<Value>, ApiError> {
    let r = authorized(&state, &headers, &p).await?;
    let q = r.query(r.from, r.to);
    let rep = report_for(&state, q).await?;
    Ok(Json(report_json(&rep)))
}
