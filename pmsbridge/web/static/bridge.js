/* pmsbridge: refresh parts of a page in place, filter the board, confirm destructive forms.
   Plain JavaScript, no library: the pages work without it, only less conveniently. */
"use strict";

(function () {
  const FILTER_KEY = "pmsbridge.board-filters";
  const filterForm = document.getElementById("board-filters");

  function currentFilters() {
    const form = filterForm.elements;
    return {
      search: form.search.value.trim().toLowerCase(),
      floor: form.floor.value,
      occupancy: form.occupancy.value,
      problems: form.problems.checked,
    };
  }

  function rowMatches(row, filters) {
    const data = row.dataset;
    if (filters.floor && data.floor !== filters.floor) return false;
    if (filters.occupancy === "occupied" && data.occupied !== "1") return false;
    if (filters.occupancy === "vacant" && data.occupied !== "0") return false;
    if (filters.problems && data.problem !== "1") return false;
    return !filters.search || data.search.includes(filters.search);
  }

  function applyFilters() {
    if (!filterForm) return;
    const filters = currentFilters();
    const rows = document.querySelectorAll("table.board tr[data-room]");
    let shown = 0;
    rows.forEach(function (row) {
      const visible = rowMatches(row, filters);
      row.hidden = !visible;
      if (visible) shown += 1;
    });
    const count = document.getElementById("shown-count");
    // The sentence comes translated from the page: "{shown} of {total} shown".
    count.textContent = count.dataset.template.replace("{shown}", shown).replace("{total}", rows.length);
    sessionStorage.setItem(FILTER_KEY, JSON.stringify(filters));
  }

  function restoreFilters() {
    const saved = JSON.parse(sessionStorage.getItem(FILTER_KEY) || "null");
    if (!saved) return;
    const form = filterForm.elements;
    form.search.value = saved.search || "";
    form.floor.value = saved.floor || "";
    form.occupancy.value = saved.occupancy || "";
    form.problems.checked = Boolean(saved.problems);
  }

  if (filterForm) {
    restoreFilters();
    filterForm.addEventListener("input", applyFilters);
    filterForm.addEventListener("change", applyFilters);
    filterForm.addEventListener("submit", function (event) { event.preventDefault(); });
    applyFilters();
  }

  /* Regions with data-refresh-url are fetched again every data-refresh-seconds; a session
     that ended (the server answers with the login page) reloads the whole page. */
  function refresh(region) {
    if (document.hidden) return;
    fetch(region.dataset.refreshUrl, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (response.redirected) {
          window.location.reload();
          return null;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        region.innerHTML = html;
        region.classList.remove("stale");
        applyFilters();
      })
      .catch(function () { region.classList.add("stale"); });
  }

  document.querySelectorAll("[data-refresh-url]").forEach(function (region) {
    const seconds = Number(region.dataset.refreshSeconds) || 5;
    window.setInterval(function () { refresh(region); }, seconds * 1000);
  });

  /* A form with data-submit-on-change (the language choice) is sent as soon as it changes. */
  document.querySelectorAll("form[data-submit-on-change]").forEach(function (form) {
    form.addEventListener("change", function () { form.requestSubmit(); });
  });

  /* data-confirm on a form (or on the button that submits it) asks first. */
  document.addEventListener("submit", function (event) {
    const submitter = event.submitter;
    const message = (submitter && submitter.dataset.confirm) || event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
}());
