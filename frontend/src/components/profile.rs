//! The profile panel: the user's display name (changed here, with the server's rules)
//! and whether to show desktop notifications.

use super::name_dialog::checked_name;
use crate::model::ChatState;
use crate::socket::Outgoing;
use crate::{attention, storage};
use leptos::prelude::*;
use leptos::task::spawn_local;

#[component]
pub fn Profile(state: RwSignal<ChatState>) -> impl IntoView {
    let outgoing = expect_context::<Outgoing>();
    let name = move || state.with(|s| s.me.as_ref().map(|u| u.name.clone()));
    let draft = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match checked_name(&draft.get_untracked()) {
            Ok(name) => {
                problem.set(None);
                draft.set(String::new());
                storage::set_name(&name);
                outgoing.rename(name);
            }
            Err(why) => problem.set(Some(why)),
        }
    };
    let notifying = RwSignal::new(attention::enabled());
    let notify = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        spawn_local(async move { notifying.set(attention::turn(on).await) });
    };
    view! {
        <details class="profile">
            <summary title="Your profile">{name}</summary>
            <div class="panel">
                <form on:submit=rename>
                    <label for="rename">"Display name"</label>
                    <div class="row">
                        <input
                            id="rename"
                            autocomplete="nickname"
                            maxlength="32"
                            placeholder="a new name"
                            prop:value=move || draft.get()
                            on:input=move |ev| draft.set(event_target_value(&ev))
                        />
                        <button type="submit">"Save"</button>
                    </div>
                    <p class="problem" role="alert">{move || problem.get()}</p>
                </form>
                {attention::offered().then(|| view! {
                    <label class="check">
                        <input type="checkbox" prop:checked=move || notifying.get() on:change=notify />
                        "Notify me of private messages and mentions while the tab is hidden"
                    </label>
                })}
            </div>
        </details>
    }
}
