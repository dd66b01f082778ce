/* Lucarne engagement: how far each page is scrolled and how long it is in the foreground,
   sent as Plausible's `engagement` event (scroll depth, time on page). Opt-in: load it
   after script.js. Sends only through the tracker; stores nothing. Keep it small. */
!function(w,d){
var l=w.location,H=w.history,u,top,sent,t,run,since;
if(w.lucarneEngagement)return;w.lucarneEngagement=1;
function height(){var b=d.body||{},e=d.documentElement||{};return Math.max(b.scrollHeight||0,e.scrollHeight||0,b.offsetHeight||0,e.offsetHeight||0)}
function reach(){var h=height();return h<=w.innerHeight?h:w.scrollY+w.innerHeight}
// time in the foreground since the page began (paused while hidden or blurred)
function now(){return t+(run?Date.now()-since:0)}
function state(){
 var on=d.visibilityState=="visible"&&d.hasFocus();
 if(on&&!run)since=Date.now();else if(!on&&run)t=now();
 run=on
}
// the page's engagement, when it scrolled further or 3 s more went by since the last
function flush(){
 var e=now(),h=height();
 if(!u||!w.lucarne||!(top>sent||e>=3e3))return;
 sent=top;
 w.lucarne("engagement",{u:u,sd:Math.min(100,Math.round(top/h*100)),e:e});
 t=0;since=Date.now()
}
// a page counts from its pageview while not hidden, as Plausible's tracker does
function start(){u=l.href;top=reach();sent=-1;t=0;run=d.visibilityState!="hidden";since=Date.now()}
["visibilitychange","pagehide"].forEach(function(n){w.addEventListener(n,function(){state();d.visibilityState!="visible"&&flush()})});
w.addEventListener("focus",state);w.addEventListener("blur",function(){state();flush()});
w.addEventListener("scroll",function(){var r=reach();r>top&&(top=r)},{passive:!0});
// a new route: the last page's engagement first, then the tracker's pageview
["pushState","replaceState"].forEach(function(m){
 var f=H[m];
 if(f)H[m]=function(s,x,to){
  var p=to!=null&&new URL(to,l.href).pathname!=l.pathname;
  p&&flush();var r=f.apply(this,arguments);p&&start();return r
 }
});
w.addEventListener("popstate",function(){flush();start()});
start()
}(window,document);
