// Signing in with the municipality's own identity provider: a button for each municipality that
// has one, the trip to the provider, and collecting this tab's tokens when the browser comes back
// to /board#federated (Lindra checked the provider's answer on the way; the tab's cookie and
// device key say which sign-in is this tab's).
import { byId } from "./dom.js";
import { t } from "./i18n.js";

const RETURN_MARK = "#federated";

/** Show a button per municipality whose staff sign in with their own provider. */
export async function offerProviders(api) {
  let providers = [];
  try {
    providers = await api.providers();
  } catch {
    return; // the password form still works
  }
  const box = byId("login-providers");
  box.replaceChildren(
    ...providers.map((provider) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-primary btn-wide";
      button.dataset.municipality = provider.municipality_id;
      button.textContent = t("login.withProvider", { name: provider.name });
      button.addEventListener("click", () => {
        button.disabled = true;
        api.startFederated(provider).catch((error) => {
          button.disabled = false;
          showError(error.message);
        });
      });
      return button;
    }),
  );
  box.hidden = providers.length === 0;
}

/** Back from the provider: this tab's tokens, or null (and the reason shown) if there are none. */
export async function collectFederated(api) {
  if (window.location.hash !== RETURN_MARK) return null;
  window.history.replaceState(null, "", window.location.pathname);
  try {
    return await api.collectFederated();
  } catch (error) {
    showError(error.message);
    return null;
  }
}

function showError(message) {
  const error = byId("login-error");
  error.textContent = message;
  error.hidden = false;
}
